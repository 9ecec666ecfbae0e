using ArchNet.Frontend;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using ArchNet.Testing;
using Google.Protobuf;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

public sealed class HostileModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Ops = ["Conv", "Gemm", "Reshape", "Add", "MaxPool", "Relu", "Flatten", "Transpose", "Concat", "Softmax",
        "Resize", "Gather", "Slice", "Pad", "AveragePool", "MatMul", "BatchNormalization", "NoSuchOp", ""];
    private static readonly long[] Ints = [0, -1, -7, 3, 100000, 1L << 33, long.MinValue];

    private static void Mutate(ModelProto m, Random rng)
    {
        var g = m.Graph;
        switch (rng.Next(9))
        {
            case 0:
            {
                var t = g.Initializer[rng.Next(g.Initializer.Count)];
                if (t.Dims.Count > 0) t.Dims[rng.Next(t.Dims.Count)] = Ints[rng.Next(Ints.Length)];
                else t.Dims.Add(Ints[rng.Next(Ints.Length)]);
                break;
            }
            case 1:
            {
                var n = g.Node[rng.Next(g.Node.Count)];
                if (n.Attribute.Count == 0) { n.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = Ints[rng.Next(Ints.Length)] }); break; }
                var a = n.Attribute[rng.Next(n.Attribute.Count)];
                switch (rng.Next(4))
                {
                    case 0 when a.Ints.Count > 0: a.Ints[rng.Next(a.Ints.Count)] = Ints[rng.Next(Ints.Length)]; break;
                    case 1: a.Ints.Clear(); a.I = Ints[rng.Next(Ints.Length)]; a.Type = AttributeProto.Types.AttributeType.Int; break;
                    case 2: a.F = rng.Next(2) == 0 ? float.NaN : float.PositiveInfinity; a.Type = AttributeProto.Types.AttributeType.Float; break;
                    default: a.Type = (AttributeProto.Types.AttributeType)rng.Next(0, 15); break;
                }
                break;
            }
            case 2:
            {
                var n = g.Node[rng.Next(g.Node.Count)];
                if (n.Input.Count > 0 && rng.Next(2) == 0) n.Input.RemoveAt(rng.Next(n.Input.Count));
                else n.Input.Add(rng.Next(2) == 0 ? "" : n.Input.Count > 0 ? n.Input[0] : "x");
                break;
            }
            case 3: g.Node[rng.Next(g.Node.Count)].OpType = Ops[rng.Next(Ops.Length)]; break;
            case 4:
            {
                var t = g.Initializer[rng.Next(g.Initializer.Count)];
                t.DataType = new[] { 0, 2, 7, 10, 11, 8, 16, 99 }[rng.Next(8)];
                break;
            }
            case 5:
            {
                var d = g.Input[0].Type.TensorType.Shape.Dim;
                var dim = d[rng.Next(d.Count)];
                if (rng.Next(3) == 0) dim.DimParam = "n"; else dim.DimValue = Ints[rng.Next(Ints.Length)];
                break;
            }
            case 6: m.OpsetImport[0].Version = new long[] { 1, 7, 11, 99, 0 }[rng.Next(5)]; break;
            case 7:
            {
                var t = g.Initializer[rng.Next(g.Initializer.Count)];
                if (t.RawData.Length > 0) t.RawData = ByteString.CopyFrom(t.RawData.Span[..rng.Next(t.RawData.Length)]);
                else if (t.FloatData.Count > 0) t.FloatData.RemoveAt(0);
                break;
            }
            default:
            {
                var n = g.Node[rng.Next(g.Node.Count)];
                if (n.Output.Count > 0) n.Output[0] = g.Node[rng.Next(g.Node.Count)].Output.FirstOrDefault() ?? "y";
                break;
            }
        }
    }

    /// <summary>
    /// Mutants of the teachers, one to three structural mutations each, seeded: dimensions negative, zero or huge on
    /// initializers and inputs; attributes of the wrong kind or out of range; inputs dropped or blank; op types swapped;
    /// element types changed; tensor data cut short; outputs redefined; opsets changed. Compiled for reference-cpu (no
    /// rewrites) and for targets whose legalization rewrites them, distillation off. Each compile either succeeds or
    /// fails with one ArchNetException line (a refusal of unsupported nodes lists them on the lines after), and a failed
    /// one leaves nothing in its output folder: never another exception (archnetc's "internal error"), never a hang or an
    /// allocation the size of a bogus dimension.
    /// </summary>
    [Theory]
    [InlineData("fmnist_cnn", 1000, "reference-cpu", 1)]
    [InlineData("fmnist_vit", 400, "reference-cpu", 1)]
    [InlineData("fmnist_resnet", 200, "reference-cpu", 1)]
    [InlineData("fmnist_cnn", 600, "archnet", 1)]
    // Legalization's rules on mutants (the resnet needs distillation for k210, which is off: none compiles).
    [InlineData("fmnist_resnet", 600, "kendryte-k210", 0)]
    public void MutatedModels_CompileOrFailWithOneLine_AndLeaveNothing(string teacher, int mutants, string target, int leastCompiled)
    {
        var source = TestData.Teacher(teacher).Onnx;
        var (compiled, bad) = (0, new List<string>());
        for (var seed = 0; seed < mutants; seed++)
        {
            var rng = new Random(seed);
            var proto = OnnxImporter.ReadProto(source);
            for (var k = 0; k < 1 + rng.Next(3); k++) Mutate(proto, rng);
            var path = Path.Combine(_dir, $"m{seed}.onnx");
            File.WriteAllBytes(path, proto.ToByteArray());
            var outDir = Path.Combine(_dir, $"o{seed}");
            var fault = Corruption.Fault(() =>
            {
                new Compilation(new CompileOptions(path, target, outDir)
                {
                    Calibration = "random:2",
                    TargetsDirectory = Path.Combine(TestData.RepoRoot, "targets"),
                    LayerFidelityItems = 0,
                    Distill = DistillMode.Off,
                    EdgeLayers = ArchNet.Passes.Quantization.LayerPrecision.EightBit,
                }, new CollectingDiagnostics()).Run();
                compiled++;
            }, refused => !(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any()), listing: true);
            if (fault is not null) bad.Add($"seed {seed}: {fault}");
        }
        output.WriteLine($"compiled {compiled}, refused {mutants - compiled - bad.Count}");
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        // The mutants must exercise both sides: some still compile, most are refused.
        Assert.InRange(compiled, leastCompiled, mutants / 2);
    }
}
