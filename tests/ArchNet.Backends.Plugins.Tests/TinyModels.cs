using System.Collections.Immutable;
using ArchNet.Backends.Abstractions;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Backends.Plugins.Tests;

/// <summary>Small quantized models built in code, and a trivial built-in backend to run beside plugins.</summary>
internal static class TinyModels
{
    /// <summary>x (u8) -> Conv 3x3 (i8 per-channel weights, float bias) -> Relu -> y (u8).</summary>
    public static Model QuantizedConv()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 2, 5, 5);
        x.Quant = QuantParams.PerTensor(8, false, 0.02f, 3);
        var w = b.Const([.. Enumerable.Range(0, 3 * 2 * 3 * 3).Select(i => (i % 7 - 3) * 0.05f)], 3, 2, 3, 3);
        w.Quant = new QuantParams(8, true, [0.01f, 0.02f, 0.03f], [0, 0, 0], 0);
        var bias = b.Const([0.1f, -0.2f, 0.005f], 3);
        var c = b.Op("Conv", [x, w, bias], IR.Attribute.Ints("pads", 1, 1, 1, 1));
        c.Quant = QuantParams.PerTensor(8, false, 0.05f, 10);
        var y = b.Op("Relu", c);
        y.Quant = c.Quant;
        b.Output(y);
        return b.Build();
    }

    public static string PluginRoot => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "test-plugins"));

    public static string Plugin(string name) => Path.Combine(PluginRoot, name);
}

/// <summary>Stands in for a built-in backend: proves built-ins keep working beside broken plugins.</summary>
internal sealed class CountingBackend : IBackend
{
    public string Name => "count";
    public string Description => "counts nodes";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["reference-cpu", "archnet"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        File.WriteAllText(Path.Combine(outputDirectory, "count.txt"), graph.Nodes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return [new Artifact("count.txt", "node count")];
    }
}

internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("archnet-plugins-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
