using ArchNet.IR;
using Spectre.Console;

namespace ArchNet.Cli;

/// <summary>
/// Shows diagnostics and progress on the console. In a terminal, progress is a live Spectre.Console bar;
/// otherwise (CI, pipes) plain lines, at most one per second per task plus the final one.
/// </summary>
internal sealed class ConsoleDiagnostics(bool quiet = false) : IDiagnostics
{

    public void Report(Diagnostic diagnostic)
    {
        if (quiet && diagnostic.Severity == Severity.Info) return;
        Console.Error.WriteLine(diagnostic.ToString());
    }

    public IProgress BeginProgress(string title, long total) => new PlainProgress(title, total, quiet);

    private sealed class PlainProgress(string title, long total, bool quiet) : IProgress
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private long _done;
        private TimeSpan _lastPrint = TimeSpan.MinValue;
        private string? _status;

        public void Advance(long steps = 1, string? status = null)
        {
            _done += steps;
            _status = status ?? _status;
            if (_clock.Elapsed - _lastPrint >= TimeSpan.FromSeconds(1)) Print();
        }

        public void Dispose()
        {
            if (_done > 0 || total == 0) Print(final: true);
        }

        private void Print(bool final = false)
        {
            if (quiet) return;
            _lastPrint = _clock.Elapsed;
            var pct = total > 0 ? $"{100.0 * _done / total,5:F1}%" : "";
            var eta = total > 0 && _done > 0 && !final
                ? $" eta {TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds * (total - _done) / _done):mm\\:ss}"
                : "";
            Console.Error.WriteLine($"[{title}] {_done}/{total} {pct}{eta} {_status}".TrimEnd() + (final ? $" done in {_clock.Elapsed.TotalSeconds:F1}s" : ""));
        }
    }
}
