using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Testing;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>The three Fashion-MNIST teachers lowered whole, against ONNX Runtime on the original file.</summary>
public sealed class TeacherLoweringTests(ITestOutputHelper output)
{
    public static TheoryData<string> Teachers => [.. TestData.TeacherNames];

    [Theory]
    [MemberData(nameof(Teachers))]
    public void WholeTeacher_MatchesOnnxRuntime(string name)
    {
        var path = TestData.Teacher(name).Onnx;
        var model = OnnxImporter.Load(path);
        var inputs = Images(model, batch: 2);

        var difference = OrtParity.MaxDifference(model, File.ReadAllBytes(path), inputs);

        output.WriteLine($"{name}: max relative difference vs ORT {difference:E2}");
        Assert.True(difference <= OrtParity.Tolerance, $"{name}: max relative difference {difference:E2}");
    }

    [Theory]
    [MemberData(nameof(Teachers))]
    public void WholeTeacher_IsDifferentiable_InEveryParameter(string name)
    {
        var model = OnnxImporter.Load(TestData.Teacher(name).Onnx);
        using var module = new GraphModule(model);
        using var scope = NewDisposeScope();
        var x = TorchTensors.FromData(Images(model, batch: 2).Values.Single());

        var logits = module.forward([x])[0];
        logits.pow(2).mean().backward();

        Assert.NotEmpty(module.ValueParameters);
        var missing = module.ValueParameters.Where(p => p.Value.grad is null || p.Value.grad.abs().sum().item<float>() == 0)
            .Select(p => p.Key.Name).ToList();
        Assert.True(missing.Count == 0, $"{name}: no gradient for {string.Join(", ", missing)}");
    }

    private static Dictionary<string, TensorData> Images(Model model, int batch)
    {
        var input = Assert.Single(model.Graph.Inputs, v => !v.IsConstant);
        var rng = new Random(7);
        var pixels = Enumerable.Range(0, batch * 28 * 28).Select(_ => rng.NextSingle()).ToArray();
        return new() { [input.Name] = TensorData.FromFloats([batch, 1, 28, 28], pixels) };
    }
}
