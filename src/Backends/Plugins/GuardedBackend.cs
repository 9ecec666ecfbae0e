using ArchNet.Backends.Abstractions;
using ArchNet.IR;

namespace ArchNet.Backends.Plugins;

/// <summary>
/// Wraps a backend so that whatever it does wrong (throws, returns nothing, lists a file it did not write, is missing
/// a dependency) becomes an <see cref="ArchNetException"/> that names it, and the host carries on.
/// </summary>
public sealed class GuardedBackend(IBackend inner, string label) : IBackend
{
    public IBackend Inner => inner;
    public string Label => label;

    public string Name => Call("Name", () => inner.Name);
    public string Description => Call("Description", () => inner.Description ?? "");
    public int ContractVersion => Call("ContractVersion", () => inner.ContractVersion);
    public IReadOnlyList<string> ServedTargets => Call("ServedTargets", () => inner.ServedTargets?.ToList() ?? []);

    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) =>
        Call("Validate", () => inner.Validate(graph, capability)?.ToList()
            ?? throw new ArchNetException($"{label} returned nothing from Validate", ExitCodes.PluginFailed));

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var artifacts = Call("Emit", () => inner.Emit(graph, outputDirectory)?.ToList());
        if (artifacts is null || artifacts.Count == 0)
            throw new ArchNetException($"{label} returned no artifacts from Emit", ExitCodes.PluginFailed);
        foreach (var a in artifacts)
        {
            if (a is null || string.IsNullOrEmpty(a.RelativePath) || !File.Exists(Path.Combine(outputDirectory, a.RelativePath)))
                throw new ArchNetException($"{label} listed artifact '{a?.RelativePath}' that it did not write", ExitCodes.PluginFailed);
        }
        return artifacts;
    }

    private T Call<T>(string member, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (ArchNetException e) when (e.Message.StartsWith(label, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception e)
        {
            throw new ArchNetException($"{label} failed in {member}: {PluginLoading.Describe(e)}", ExitCodes.PluginFailed, e);
        }
    }
}
