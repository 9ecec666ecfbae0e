using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>The replacements a ViT needs on archnet-transformer: the patch conv, LayerNorm and GELU.</summary>
public sealed class TransformerReplacementTests
{
    private static Capability Transformer => CapabilityLoader.LoadFile(Path.Combine(TestData.RepoRoot, "targets", "archnet-transformer.json"));

    private static Dictionary<string, TensorData> Run(Model m, string input, TensorData x) =>
        OrtRunner.Run(OnnxExporter.ToBytes(m), new Dictionary<string, TensorData> { [input] = x });

    private static Model Patchify()
    {
        var b = new GraphBuilder(seed: 5);
        var x = b.Input("image", 1, 1, 28, 28);
        b.Output(b.Op("Conv", [x, b.Random([8, 1, 7, 7]), b.Random([8])],
            Attribute.Ints("kernel_shape", 7, 7), Attribute.Ints("strides", 7, 7), Attribute.Ints("pads", 0, 0, 0, 0)));
        var m = b.Build();
        ShapeInference.Run(m.Graph);
        return m;
    }

    [Fact]
    public void PatchConv7x7Stride7_IsReplacedByThreeStride2Conv3x3_ExactOnTheMiddlePatchAtTheStart()
    {
        var teacher = Patchify();
        var student = Patchify();

        var records = ReplacementCatalog.BuildStudent(student, Transformer);

        Assert.Equal("patchify-to-strided-3x3", new PatchifyToStrided3x3().Name);
        Assert.Single(records);
        var convs = student.Graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        Assert.Equal(3, convs.Count);
        Assert.All(convs, c => Assert.Equal(new long[] { 2, 2 }, c.GetInts("strides")!.Value.ToArray()));
        Assert.All(student.Graph.Nodes, n => Assert.True(Transformer.Check(n).IsSupported, $"{n}: {Transformer.Check(n)}"));
        // Images are non-negative; the tap copies pass them through the ReLUs unchanged.
        var rng = new Random(1);
        var image = TensorData.FromFloats([1, 1, 28, 28], [.. Enumerable.Range(0, 784).Select(_ => (float)rng.NextDouble())]);
        var t = Run(teacher, "image", image).Values.Single().ToFloats();
        var s = Run(student, "image", image).Values.Single().ToFloats();
        Assert.Equal(t.Length, s.Length);
        // Output [1, 8, 4, 4]: the patch at (1, 1) is the one the student's kernel starts aligned with.
        for (var c = 0; c < 8; c++)
        {
            var at = c * 16 + 1 * 4 + 1;
            Assert.True(Math.Abs(t[at] - s[at]) <= 1e-4 * (1 + Math.Abs(t[at])), $"channel {c}: teacher {t[at]}, student {s[at]}");
        }
    }

    private static Model PreNormFeedForward()
    {
        var b = new GraphBuilder(20, seed: 9);
        var x = b.Input("x", 1, 5, 8);
        var ln = b.Op("LayerNormalization", [x, b.Random([8], 0.5f, 1.5f), b.Random([8], -0.5f, 0.5f)], Attribute.Int("axis", -1));
        var h = b.Op("Add", b.Random([6]), b.Op("MatMul", ln, b.Random([8, 6])));
        var g = b.Op("Gelu", h);
        var y = b.Op("Add", b.Op("MatMul", g, b.Random([6, 8])), b.Random([8]));
        b.Output(b.Op("Add", x, y));
        var m = b.Build();
        ShapeInference.Run(m.Graph);
        return m;
    }

    [Fact]
    public void LayerNormAndGelu_AreGone_StudentIsSupported_AndExactOnTokensWithUnitDeviation()
    {
        var student = PreNormFeedForward();

        var records = ReplacementCatalog.BuildStudent(student, Transformer);

        Assert.Equal(new[] { "LayerNormalization", "Gelu" }, records.Select(r => r.OpType));
        Assert.DoesNotContain(student.Graph.Nodes, n => n.OpType is "LayerNormalization" or "Gelu" or "Mul");
        Assert.All(student.Graph.Nodes, n => Assert.True(Transformer.Check(n).IsSupported, $"{n}: {Transformer.Check(n)}"));

        // The folded affine keeps the mean subtraction and gamma/beta; only the division by each token's deviation is
        // gone. On tokens whose deviation is 1, the LayerNorm part is exact: compare with the teacher's GELU swapped for ReLU.
        var reference = PreNormFeedForward();
        reference.Graph.Nodes.Single(n => n.OpType == "Gelu").OpType = "Relu";
        var rng = new Random(4);
        var values = new float[40];
        for (var token = 0; token < 5; token++)
        {
            var row = Enumerable.Range(0, 8).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var mean = row.Average();
            var sd = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average());
            var offset = rng.NextDouble() * 4 - 2;
            for (var i = 0; i < 8; i++) values[token * 8 + i] = (float)((row[i] - mean) / sd + offset);
        }
        var x = TensorData.FromFloats([1, 5, 8], values);
        var expected = Run(reference, "x", x).Values.Single().ToFloats();
        var actual = Run(student, "x", x).Values.Single().ToFloats();
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-3 * (1 + Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
    }

    /// <summary>Items [count, 5, 8] whose tokens have mean in [-2, 2] and standard deviation exactly <paramref name="deviation"/>.</summary>
    private static TensorData Tokens(int count, double deviation, int seed)
    {
        var rng = new Random(seed);
        var values = new float[count * 40];
        for (var token = 0; token < count * 5; token++)
        {
            var row = Enumerable.Range(0, 8).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var mean = row.Average();
            var sd = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average());
            var offset = rng.NextDouble() * 4 - 2;
            for (var i = 0; i < 8; i++) values[token * 8 + i] = (float)((row[i] - mean) / sd * deviation + offset);
        }
        return TensorData.FromFloats([count, 5, 8], values);
    }

    [Fact]
    public void LayerNorm_WithCalibration_TakesTheMeanTokenDeviation_ExactOnTokensOfThatDeviation()
    {
        var student = PreNormFeedForward();

        ReplacementCatalog.BuildStudent(student, Transformer, calibration: Tokens(4, 3.0, seed: 11));

        Assert.DoesNotContain(student.Graph.Nodes, n => n.OpType == "LayerNormalization");
        var reference = PreNormFeedForward();
        reference.Graph.Nodes.Single(n => n.OpType == "Gelu").OpType = "Relu";
        var x = Tokens(1, 3.0, seed: 12);
        var expected = Run(reference, "x", x).Values.Single().ToFloats();
        var actual = Run(student, "x", x).Values.Single().ToFloats();
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-3 * (1 + Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void LayerNorm_ReadByANonLinearOp_IsNotReplaced()
    {
        var b = new GraphBuilder(seed: 2);
        var x = b.Input("x", 1, 5, 8);
        var ln = b.Op("LayerNormalization", [x, b.Random([8]), b.Random([8])], Attribute.Int("axis", -1));
        b.Output(b.Op("Relu", ln));
        var m = b.Build();
        ShapeInference.Run(m.Graph);

        Assert.False(new LayerNormToFoldedAffine().CanReplace(m.Graph.Nodes.Single(n => n.OpType == "LayerNormalization"), Transformer));
    }
}
