namespace ArchNet.Backends.Abstractions;

/// <summary>
/// A backend: turns a legal quantized graph into an artifact for a chip. Built-in backends and plugins implement the
/// same interface; a plugin is a public, non-abstract class with a public parameterless constructor in an assembly
/// that references only this contract (and its own dependencies, shipped beside it).
/// </summary>
/// <remarks>
/// The host calls <see cref="Validate"/> and then, when it reported no error, <see cref="Emit"/>, both on one thread.
/// An exception thrown by either fails that compile with a message naming the backend; it never brings down the host.
/// A backend should not keep state between calls.
/// </remarks>
public interface IBackend
{
    /// <summary>What users type after <c>--backend</c>: lowercase, digits and '-' (e.g. <c>acme-npu</c>).</summary>
    string Name { get; }

    /// <summary>One line for <c>archnetc backends</c>.</summary>
    string Description { get; }

    /// <summary>The contract the backend was built against: return <see cref="BackendContract.Version"/>.</summary>
    int ContractVersion { get; }

    /// <summary>
    /// The capability files (targets, by name, e.g. <c>arm-ethos-u55</c>) whose graphs this backend can emit;
    /// <c>*</c> means any target.
    /// </summary>
    IReadOnlyList<string> ServedTargets { get; }

    /// <summary>
    /// Checks a quantized graph compiled for <paramref name="capability"/> (a target name). Returns one diagnostic per
    /// problem (an op, an attribute value, a bit width the backend cannot emit); an empty list means <see cref="Emit"/>
    /// will succeed. Should run the same code paths that <see cref="Emit"/> uses, so the two cannot disagree.
    /// </summary>
    IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability);

    /// <summary>
    /// Writes the artifact(s) for <paramref name="graph"/> into <paramref name="outputDirectory"/> (which exists) and
    /// returns what it wrote. Must return at least one artifact. Same graph in, same bytes out.
    /// </summary>
    IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory);
}

/// <summary>
/// A built-in backend that reads only <see cref="QuantizedGraph.Source"/>, the host's own model (as the onnx backend
/// does). The host then hands it a view whose constants carry no data (<see cref="TensorValue.FloatData"/> and
/// <see cref="TensorValue.IntegerData"/> null): the view's copy of every weight, and the integers computed from it, would
/// be made for nothing. Not for plugins: <see cref="QuantizedGraph.Source"/> is not part of the contract.
/// </summary>
public interface IHostModelBackend : IBackend
{
}

/// <summary>How bad a backend's finding is: an error stops the compile.</summary>
public enum BackendSeverity { Info, Warning, Error }

/// <summary>A finding of <see cref="IBackend.Validate"/>; <paramref name="Node"/> names the node when there is one.</summary>
public sealed record BackendDiagnostic(BackendSeverity Severity, string Message, string? Node = null)
{
    public static BackendDiagnostic Error(string message, string? node = null) => new(BackendSeverity.Error, message, node);
    public static BackendDiagnostic Warning(string message, string? node = null) => new(BackendSeverity.Warning, message, node);

    public override string ToString() =>
        $"{Severity.ToString().ToLowerInvariant()}: {(Node is null ? "" : $"node '{Node}': ")}{Message}";
}

/// <summary>A file a backend wrote: its path relative to the output folder, and what it is in a few words.</summary>
public sealed record Artifact(string RelativePath, string Kind);
