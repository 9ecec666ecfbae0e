using ArchNet.Backends.Emulation;
using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Backends.Tests;

/// <summary>The emulator's float mode computes what ONNX Runtime computes (it feeds calibration and per-layer fidelity).</summary>
public sealed class FloatEmulatorTests
{
    public static TheoryData<string> Ops => [.. OpGraphs.Names];

    [Theory]
    [MemberData(nameof(Ops))]
    public void FloatMode_MatchesOnnxRuntime(string op)
    {
        var model = OpGraphs.Build(op);
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 5);
        using var ort = new ReferenceRunner(OnnxExporter.ToBytes(model));
        var expected = ort.Run(inputs);
        var actual = new Emulator(model, EmulatorMode.Float).Run(inputs.ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value)));
        foreach (var (name, e) in expected)
        {
            var a = actual.Outputs[name];
            Assert.Equal(e.Dims.Select(d => (int)d), a.Shape);
            var err = OrtRunner.MaxRelativeError(TensorData.FromFloats(a.Dims(), a.ToReal()), e);
            Assert.True(err < 1e-5, $"{op}: max relative error {err}");
        }
    }

    [Fact]
    public void Run_ReturnsRequestedIntermediates()
    {
        var model = OpGraphs.Build("ResidualBlock");
        var inputs = OrtRunner.RandomInputs(model.Graph).ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value));
        var run = new Emulator(model, EmulatorMode.Float).Run(inputs, _ => true);
        var produced = model.Graph.Nodes.SelectMany(n => n.Outputs).Select(v => v.Name).ToHashSet();
        Assert.All(produced, n => Assert.Contains(n, run.Values.Keys));
        Assert.Contains("x", run.Values.Keys);
    }
}
