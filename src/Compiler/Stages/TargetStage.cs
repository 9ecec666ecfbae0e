using ArchNet.Backends.Plugins;
using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler.Stages;

/// <summary>The chip (its capability file), the compile's bit-width policy and the backend: bad names and widths fail
/// here, before the long stages.</summary>
public sealed class TargetStage(CompileState state) : Stage(state)
{
    public override string Name => "target";

    protected override int Execute(Model model)
    {
        var o = Options;
        var catalog = new TargetCatalog(o.TargetsDirectory ?? FindTargetsDirectory());
        var capability = State.Capability = catalog.Resolve(o.Target);
        var target = NumericsChoice.For(capability.Numerics, o.WeightBits, o.ActivationBits);
        var quantOptions = new QuantizationOptions
        {
            Method = o.Method,
            BiasCorrection = o.BiasCorrection,
            EdgeLayers = o.EdgeLayers,
            Attention = o.Attention,
        };
        quantOptions.CheckWidths(target, capability.Name);
        State.Policy = new QuantizationPolicy(target, quantOptions);
        State.Backends = BackendCatalog.Discover(BuiltInBackends.All(), o.PluginDirectories, Diagnostics);
        var backend = State.Backend = State.Backends.Get(o.Backend);
        if (!BackendCatalog.Serves(backend, capability.Name))
            throw new ArchNetException($"backend '{backend.Name}' does not serve target '{capability.Name}' (it serves: {string.Join(", ", backend.ServedTargets)})");
        return 0;
    }

    private static string FindTargetsDirectory()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "targets");
                if (File.Exists(Path.Combine(candidate, "schema.json"))) return candidate;
            }
        throw new ArchNetException("cannot find the targets/ folder of capability files (give --targets-dir)");
    }
}
