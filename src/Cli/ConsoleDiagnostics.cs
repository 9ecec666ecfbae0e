using ArchNet.IR;
using Spectre.Console;

namespace ArchNet.Cli;

/// <summary>
/// Shows diagnostics and progress on the console (stderr, so stdout stays clean for --json output).
/// In a terminal, progress is a live Spectre.Console bar with the live status and ETA; otherwise (CI, pipes)
/// plain lines, at most one a second per task plus the final one.
/// </summary>
internal sealed class ConsoleDiagnostics(bool quiet = false) : IDiagnostics
{
    private static readonly bool Interactive =
        !Console.IsErrorRedirected && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public void Report(Diagnostic diagnostic)
    {
        if (quiet && diagnostic.Severity == Severity.Info) return;
        Console.Error.WriteLine(diagnostic.ToString());
    }

    public IProgress BeginProgress(string title, long total) =>
        Interactive && !quiet && total > 0 ? new BarProgress(title, total) : new PlainProgress(title, total, quiet);

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

    private sealed class PlainProgress(string title, long total, bool quiet) : IProgress
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private long _done;
        private TimeSpan _lastPrint = TimeSpan.FromSeconds(-1); // MinValue would overflow Elapsed - _lastPrint
        private string? _status;

        public void Advance(long steps = 1, string? status = null)
        {
            _done += steps;
            _status = status ?? _status;
            if (_clock.Elapsed - _lastPrint >= TimeSpan.FromSeconds(1)) Print();
        }

        public void Dispose() => Print(final: true);

        private void Print(bool final = false)
        {
            if (quiet) return;
            _lastPrint = _clock.Elapsed;
            var pct = total > 0 ? $" {100.0 * _done / total:F1}%" : "";
            var eta = total > 0 && _done > 0 && !final
                ? $" eta {TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds * (total - _done) / _done):mm\\:ss}"
                : "";
            var done = final ? $" done in {_clock.Elapsed.TotalSeconds:F1}s" : "";
            Console.Error.WriteLine($"[{title}] {_done}/{total}{pct}{eta}{(_status is null ? "" : " " + _status)}{done}");
        }
    }
}
