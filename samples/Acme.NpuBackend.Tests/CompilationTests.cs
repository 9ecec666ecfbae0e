using ArchNet.Backends.Emulation;
using ArchNet.Compiler;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;

namespace Acme.NpuBackend.Tests;

/// <summary>
/// The whole road a vendor's user takes: a float ONNX model compiled by archnetc's own pipeline for the chip's capability
/// file (this sample's acme-npu.json, given as a path) through the plugin loaded from a folder; the command stream it
/// writes, run by the simulator, equals the emulator on the quantized model the pipeline handed the plugin, bit for bit.
/// </summary>
public sealed class CompilationTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("acme-npu-pipeline-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string CapabilityFile => Path.Combine(TestData.RepoRoot, "samples", "Acme.NpuBackend", "acme-npu.json");

    private string ModelFile(string net)
    {
        if (net != "residual") return TestData.Teacher(net).Onnx;
        var path = Path.Combine(_root, "residual.onnx");
        OnnxExporter.Save(TestNets.FloatResidualCnn(), path);
        return path;
    }

    [Theory]
    [InlineData("residual", 8, 8)]
    [InlineData("residual", 4, 4)]
    [InlineData("residual", 2, 8)]
    [InlineData("fmnist_cnn", 8, 8)]
    [InlineData("fmnist_cnn", 4, 4)]
    public void CompiledByThePipeline_ForTheSampleCapabilityFile_TheSimulatorMatchesTheEmulatorBitForBit(string net, int wbits, int abits)
    {
        var output = Path.Combine(_root, "out");
        var diagnostics = new CollectingDiagnostics();
        var pipeline = new Compilation(new CompileOptions(ModelFile(net), CapabilityFile, output)
        {
            Backend = "acme-npu",
            PluginDirectories = [SamplePlugin.Install(_root)],
            WeightBits = wbits,
            ActivationBits = abits,
            Calibration = "random:32?seed=5",
            Distill = DistillMode.Off, // every op of these nets is on the NPU: nothing to retrain
            LayerFidelityItems = 4,
            TargetsDirectory = Path.Combine(TestData.RepoRoot, "targets"),
        }, diagnostics);

        var report = pipeline.Run();

        Assert.Equal("acme-npu", report.Target);
        Assert.Equal("acme-npu", report.Backend);
        Assert.Equal(0, report.UnsupportedNodesAfter);
        var model = pipeline.Quantized!;
        var emulator = new Emulator(model, EmulatorMode.Integer);
        Assert.Empty(emulator.HostFloatNodes);
        var simulator = new NpuSimulator(File.ReadAllBytes(Path.Combine(output, AcmeNpuBackend.ArtifactName)));

        var mismatches = 0;
        var compared = 0;
        var distinct = new HashSet<int>();
        var input = model.Graph.Inputs.Single().Name;
        foreach (var item in TestNets.Inputs(model, 20, seed: 11))
        {
            var expected = emulator.Run(item).Outputs.Values.Single().Ints
                ?? throw new InvalidOperationException("the emulator's output is not integer: the graph's output is not quantized");
            var actual = simulator.Run([item[input].Floats!]).Single();
            Assert.Equal(expected.Length, actual.Length);
            mismatches += expected.Zip(actual).Count(p => p.First != p.Second);
            compared += expected.Length;
            distinct.UnionWith(actual);
        }

        Assert.True(mismatches == 0, $"{mismatches} of {compared} output integers differ between the simulator and the emulator");
        Assert.True(distinct.Count > 5, "outputs should vary across inputs, or the comparison proves little");
    }
}
