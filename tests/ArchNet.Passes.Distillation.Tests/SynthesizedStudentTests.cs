using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Legalization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>
/// The generic student (issue 22): regions no rewrite or template handles become 3x3 conv / fully connected students
/// fitted by least squares, named in the records; a region no student can stand in for is refused with the tensor and why.
/// </summary>
public sealed class SynthesizedStudentTests
{
    private static Capability Archnet => CapabilityLoader.LoadFile(Path.Combine(TestData.RepoRoot, "targets", "archnet.json"));

    private static TensorData Images(int count) => Idx.Read(TestData.FashionMnist.TrainImages, count);

    /// <summary>As the compile prepares a model for distillation: canonical, legalized (what is left marked for retraining).</summary>
    private static Model Prepared(Model model)
    {
        Canonicalize.Run(model, new PassContext(SilentDiagnostics.Instance));
        new Legalizer(new CapabilityOracle(Archnet)).Run(model, new PassContext(SilentDiagnostics.Instance));
        return model;
    }

    private static List<ReplacementRecord> Build(Model model, TensorData? calibration) =>
        ReplacementCatalog.BuildStudent(model, Archnet, n => n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey), calibration: calibration);

    [Fact]
    public void LinearRegion_TheFittedStudentComputesIt_OnOrt()
    {
        // Sub of two conv maps: archnet has no Sub, no template replaces it; it is linear in its inputs, so the least-squares
        // fit over Relu(a), Relu(-a), Relu(b), Relu(-b) at the centre tap must reproduce it.
        var b = new GraphBuilder(opset: 17, seed: 5);
        var x = b.Input("x", 1, 1, 28, 28);
        Value Conv(Value v) => b.Op("Conv", [v, b.Random([4, 1, 3, 3]), b.Random([4])], Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1));
        var y = b.Op("Relu", b.Op("Conv", [b.Op("Sub", Conv(x), Conv(x)), b.Random([3, 4, 3, 3]), b.Random([3])],
            Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1)));
        b.Output(y);
        var teacher = OnnxExporter.ToBytes(b.Build());
        var student = Prepared(OnnxImporter.Import(OnnxExporter.ToProto(b.Model)));

        var records = Build(student, Images(64));

        var record = Assert.Single(records);
        Assert.StartsWith(SynthesizedStudent.Summary, record.Replacement);
        Assert.Equal("Sub", record.OpType);
        Assert.All(student.Graph.Nodes, n => Assert.True(Archnet.Check(n).IsSupported, $"{n.DisplayName}: {Archnet.Check(n)}"));
        var inputs = new Dictionary<string, TensorData> { ["x"] = Idx.Read(TestData.FashionMnist.TestImages, 1) };
        var expected = OrtRunner.Run(teacher, inputs).Values.Single();
        var actual = OrtRunner.Run(OnnxExporter.ToBytes(student), inputs).Values.Single();
        Assert.True(OrtRunner.Cosine(actual, expected) >= 0.9999, $"cosine {OrtRunner.Cosine(actual, expected)}");
    }

    [Fact]
    public void RegionWithoutABoundaryTheChipTakes_IsRefused_NamingTheTensor()
    {
        // A rank-3 graph output: no student of convs and fully connected layers writes it.
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", 1, 2, 4, 4);
        b.Output(b.Op("Reshape", b.Op("Relu", x), b.Ints(1, 2, 16)));
        var student = Prepared(b.Build());

        var e = Assert.Throws<ArchNetException>(() => Build(student, null));
        Assert.Contains("no synthesized student can stand in for them", e.Message);
        Assert.Contains("tensor 'reshape", e.Message);
    }

    /// <summary>Issue 22's networks on archnet: nothing is left unsupported; the generic student is used where expected, and said.</summary>
    [Theory]
    [InlineData("convnext", "")]
    [InlineData("mobilenet_se", "mul19 (Mul)")]
    [InlineData("token_mixer", "reshape1 .. reducemean15 (region)")]
    [InlineData("patchify_stem", "")]
    public void ModernBlock_StudentRunsOnArchnet_AndNamesEachSynthesizedRegion(string name, string synthesized)
    {
        var student = Prepared(ModernBlocks.Build(name, items: 1));

        var records = Build(student, Images(64));

        Assert.All(student.Graph.Nodes, n => Assert.True(Archnet.Check(n).IsSupported, $"{n.DisplayName}: {Archnet.Check(n)}"));
        Assert.Equal(synthesized, string.Join("; ", records.Where(r => r.Replacement.StartsWith(SynthesizedStudent.Summary))
            .Select(r => $"{r.Node} ({r.OpType})")));
        Assert.All(records.Where(r => r.Replacement.StartsWith(SynthesizedStudent.Summary)),
            r => Assert.Matches(@"MACs \d+ vs \d+ \(original\), parameters \d+ vs \d+", r.Replacement));
    }
}
