using ArchNet.Backends.Abstractions;
using ArchNet.IR;

namespace ArchNet.Backends.Plugins;

/// <summary>
/// Runs one backend over a quantized model: view, target check, validation, emission into a staging folder, then a
/// rename of each artifact into the output folder (so a failed emit leaves no half-written artifact behind).
/// </summary>
public static class BackendRun
{
    public static IReadOnlyList<Artifact> Emit(IBackend backend, Model model, string target, string outputDirectory, IDiagnostics diagnostics) =>
        Emit(backend, GraphView.Of(model, target, constantData: (backend is GuardedBackend g ? g.Inner : backend) is not IHostModelBackend),
            outputDirectory, diagnostics);

    public static IReadOnlyList<Artifact> Emit(IBackend backend, QuantizedGraph graph, string outputDirectory, IDiagnostics diagnostics)
    {
        var label = backend is GuardedBackend g ? g.Label : $"backend '{backend.Name}'";
        if (!BackendCatalog.Serves(backend, graph.Target))
            throw new ArchNetException($"{label} does not serve target '{graph.Target}' (it serves: {string.Join(", ", backend.ServedTargets)})");
        var findings = backend.Validate(graph, graph.Target);
        foreach (var f in findings)
            diagnostics.Report(new Diagnostic(f.Severity switch
            {
                BackendSeverity.Error => Severity.Error,
                BackendSeverity.Warning => Severity.Warning,
                _ => Severity.Info,
            }, $"{backend.Name}: {f.Message}", f.Node));
        var errors = findings.Where(f => f.Severity == BackendSeverity.Error).ToList();
        if (errors.Count > 0)
            throw new ArchNetException($"{label} cannot emit this graph: {errors[0]}{(errors.Count > 1 ? $" (and {errors.Count - 1} more)" : "")}", ExitCodes.Failed);

        Directory.CreateDirectory(outputDirectory);
        var staging = Path.Combine(outputDirectory, $".{backend.Name}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var artifacts = backend.Emit(graph, staging);
            KillPoint.Reached(KillPoint.ArtifactsStaged);
            foreach (var a in artifacts)
            {
                var destination = Path.Combine(outputDirectory, a.RelativePath);
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                File.Move(Path.Combine(staging, a.RelativePath), destination, overwrite: true);
            }
            return artifacts;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }
}
