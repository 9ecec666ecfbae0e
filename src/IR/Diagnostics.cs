namespace ArchNet.IR;

public enum Severity { Info, Warning, Error }

public sealed record Diagnostic(Severity Severity, string Message, string? Node = null)
{
    public override string ToString() =>
        $"{Severity.ToString().ToLowerInvariant()}: {(Node is null ? "" : $"node '{Node}': ")}{Message}";
}

/// <summary>
/// How everything below the CLI reports: messages and progress. The CLI decides how they look
/// (a Spectre.Console bar in a terminal, plain lines otherwise); tests collect them.
/// </summary>
public interface IDiagnostics
{
    void Report(Diagnostic diagnostic);

    /// <summary>Starts a unit of work of <paramref name="total"/> steps; dispose it when done.</summary>
    IProgress BeginProgress(string title, long total);
}

public interface IProgress : IDisposable
{
    /// <summary>Marks <paramref name="steps"/> more steps done; <paramref name="status"/> is a short live figure (e.g. the loss).</summary>
    void Advance(long steps = 1, string? status = null);
}

public static class DiagnosticsExtensions
{
    public static void Info(this IDiagnostics d, string message, string? node = null) => d.Report(new(Severity.Info, message, node));
    public static void Warning(this IDiagnostics d, string message, string? node = null) => d.Report(new(Severity.Warning, message, node));
}

/// <summary>Discards everything; for library callers that do not care.</summary>
public sealed class SilentDiagnostics : IDiagnostics
{
    public static SilentDiagnostics Instance { get; } = new();
    public void Report(Diagnostic diagnostic) { }
    public IProgress BeginProgress(string title, long total) => NoProgress.Instance;

    private sealed class NoProgress : IProgress
    {
        public static NoProgress Instance { get; } = new();
        public void Advance(long steps = 1, string? status = null) { }
        public void Dispose() { }
    }
}

/// <summary>Keeps every diagnostic, and the title and total of every unit of work begun; for tests and for reports.</summary>
public sealed class CollectingDiagnostics : IDiagnostics
{
    private readonly List<Diagnostic> _items = [];
    private readonly List<(string Title, long Total)> _progress = [];
    public IReadOnlyList<Diagnostic> Items => _items;
    public IReadOnlyList<(string Title, long Total)> Progress => _progress;
    public void Report(Diagnostic diagnostic) { lock (_items) _items.Add(diagnostic); }
    public IProgress BeginProgress(string title, long total)
    {
        lock (_progress) _progress.Add((title, total));
        return SilentDiagnostics.Instance.BeginProgress(title, total);
    }
}
