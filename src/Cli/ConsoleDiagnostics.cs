using ArchNet.IR;
using Spectre.Console;

namespace ArchNet.Cli;

/// <summary>How much a command prints on stderr: <c>--quiet</c> keeps warnings and errors, <c>--verbose</c> adds a
/// progress line a second.</summary>
internal enum Verbosity { Quiet, Normal, Verbose }

/// <summary>
/// Shows diagnostics and progress on the console (stderr, so stdout stays clean for --json output).
/// In a terminal, progress is one live Spectre.Console line per stage with its ETA; otherwise (CI, pipes, a log file)
/// plain lines as <see cref="ProgressMarks"/> decides, each with the <c>info:</c> prefix that every line a user may grep
/// carries.
/// </summary>
internal sealed class ConsoleDiagnostics(Verbosity verbosity = Verbosity.Normal) : IDiagnostics
{
    private static readonly bool Interactive =
        !Console.IsErrorRedirected && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public void Report(Diagnostic diagnostic)
    {
        if (verbosity == Verbosity.Quiet && diagnostic.Severity == Severity.Info) return;
        Console.Error.WriteLine(diagnostic.ToString());
    }

    public IProgress BeginProgress(string title, long total) => verbosity == Verbosity.Quiet ? SilentDiagnostics.Instance.BeginProgress(title, total)
        : Interactive && total > 0 ? new BarProgress(title, total)
        : new PlainProgress(new ProgressMarks(title, total, verbosity == Verbosity.Verbose ? ProgressMarks.EverySecond : ProgressMarks.TenPercent));

    /// <summary>Spectre's progress display runs its own render loop; it lives on a background task until disposed.</summary>
    private sealed class BarProgress : IProgress
    {
        private readonly TaskCompletionSource _finished = new();
        private readonly TaskCompletionSource<ProgressTask> _task = new();
        private readonly Task _render;
        private readonly string _title;

        public BarProgress(string title, long total)
        {
            _title = Markup.Escape(title);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            _render = console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new ElapsedTimeColumn())
                .StartAsync(async ctx =>
                {
                    _task.SetResult(ctx.AddTask(_title, maxValue: total));
                    await _finished.Task;
                });
        }

        public void Advance(long steps = 1, string? status = null)
        {
            var task = _task.Task.Result;
            task.Increment(steps);
            if (status is not null) task.Description = $"{_title} [grey]{Markup.Escape(status)}[/]";
        }

        public void Dispose()
        {
            _finished.TrySetResult();
            _render.GetAwaiter().GetResult();
        }
    }

    private sealed class PlainProgress(ProgressMarks marks) : IProgress
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

        public void Advance(long steps = 1, string? status = null)
        {
            if (marks.Advance(steps, status, _clock.Elapsed) is { } line) Console.Error.WriteLine(line);
        }

        public void Dispose() => Console.Error.WriteLine(marks.Finish(_clock.Elapsed));
    }
}

/// <summary>
/// When a stage's progress gets a line of its own in a log: at each 10 % mark, or after 30 s without a line, whichever
/// comes first (<see cref="TenPercent"/>), or at most once a second (<see cref="EverySecond"/>, --verbose); plus one
/// final line with the stage's time. Lines start with <c>info:</c>.
/// </summary>
internal sealed class ProgressMarks(string title, long total, ProgressMarks.Policy policy)
{
    /// <param name="Step">A share of the total (0..1) that earns a line when crossed; null: none.</param>
    /// <param name="Quiet">A line after this long without one.</param>
    internal sealed record Policy(double? Step, TimeSpan Quiet);

    public static Policy TenPercent { get; } = new(0.1, TimeSpan.FromSeconds(30));
    public static Policy EverySecond { get; } = new(null, TimeSpan.FromSeconds(1));

    private long _done;
    private long _lastMark;
    private string? _status;
    private TimeSpan _lastLine;

    /// <summary>Counts <paramref name="steps"/> more done at <paramref name="elapsed"/> since the start; the line to print, if one is due.</summary>
    public string? Advance(long steps, string? status, TimeSpan elapsed)
    {
        _done += steps;
        _status = status ?? _status;
        var mark = policy.Step is { } step && total > 0 ? (long)Math.Floor(Math.Min(_done, total) / (double)total / step + 1e-9) : 0;
        var due = mark > _lastMark && _done < total || elapsed - _lastLine >= policy.Quiet;
        if (!due) return null;
        _lastMark = Math.Max(_lastMark, mark);
        _lastLine = elapsed;
        var eta = total > 0 && _done > 0 && _done < total
            ? $" eta {TimeSpan.FromSeconds(elapsed.TotalSeconds * (total - _done) / _done):mm\\:ss}"
            : "";
        return $"info: [{title}] {_done}/{total}{Percent()}{eta}{Status()}";
    }

    public string Finish(TimeSpan elapsed) => $"info: [{title}] {_done}/{total}{Percent()}{Status()} done in {elapsed.TotalSeconds:F1}s";

    private string Percent() => total > 0 ? $" {Math.Floor(100.0 * _done / total):F0}%" : ""; // floored: 19.8 % is not yet the 20 % mark
    private string Status() => _status is null ? "" : " " + _status;
}
