using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Backends.Tests;

/// <summary>
/// Calibration widens a one-item graph to run many items at once (<see cref="CalibrationBatch"/> decides, the reference
/// runner rebinds): every exposed value of the widened run is, item by item, what one-item runs of the original give.
/// </summary>
public sealed class BatchedCalibrationTests
{
    public static TheoryData<string> Graphs => ["attention", "conv"];

    private static Model Build(string name)
    {
        var b = new GraphBuilder(opset: 20, seed: 5);
        if (name == "conv")
        {
            var x = b.Input("x", 1, 3, 10, 10);
            var c = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 3, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1)));
            var p = b.Op("MaxPool", [c], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
            var f = b.Op("Flatten", [b.Op("GlobalAveragePool", p)], Attribute.Int("axis", 1));
            b.Output(b.Op("Gemm", [f, b.Random([5, 4]), b.Random([5])], Attribute.Int("transB", 1)));
            return b.Build();
        }
        var t = b.Input("t", 1, 6, 8);
        var mask = b.Input("mask", ElementType.Int64, 1, 6);
        var bias = b.Op("Mul", b.Op("Sub", b.Scalar(1), b.Op("Cast", [b.Op("Reshape", mask, b.Ints(1, 1, 1, 6))],
            Attribute.Int("to", (long)ElementType.Float))), b.Scalar(-1000));
        var q = b.Op("MatMul", t, b.Random([8, 8]));
        var heads = b.Op("Transpose", [b.Op("Reshape", q, b.Ints(1, 6, 2, 4))], Attribute.Ints("perm", 0, 2, 1, 3));
        var kT = b.Op("Transpose", [b.Op("Reshape", q, b.Ints(1, 6, 2, 4))], Attribute.Ints("perm", 0, 2, 3, 1));
        var scores = b.Op("Add", b.Op("MatMul", heads, kT), bias);
        var ctx = b.Op("MatMul", b.Op("Softmax", [scores], Attribute.Int("axis", -1)), heads);
        var merged = b.Op("Reshape", b.Op("Transpose", [ctx], Attribute.Ints("perm", 0, 2, 1, 3)), b.Ints(1, 6, 8));
        var n = b.Op("LayerNormalization", [b.Op("Add", merged, t), b.Random([8]), b.Random([8])], Attribute.Int("axis", -1));
        b.Output(b.Op("Gelu", n));
        return b.Build();
    }

    [Theory]
    [MemberData(nameof(Graphs))]
    public void WidenedRun_EqualsOneItemRuns(string name)
    {
        var model = Build(name);
        var batch = CalibrationBatch.Of(model);
        Assert.NotNull(batch);
        var exposed = model.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v.ElementType == ElementType.Float)
            .Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        const int items = 3;
        var perItem = Enumerable.Range(0, items).Select(i => OrtRunner.RandomInputs(model.Graph, seed: 20 + i, lo: -2, hi: 2)).ToList();
        if (name == "attention")
            for (var i = 0; i < items; i++) perItem[i]["mask"] = TensorData.FromInt64s([1, 6], [1, 1, 1, 1, i == 1 ? 0 : 1, 1]);
        var stacked = perItem[0].Keys.ToDictionary(k => k, k => Stack(perItem.Select(p => p[k]).ToList()));

        using var single = new ReferenceRunner(OnnxExporter.ToBytes(model), exposed, optimizations: OrtOptimizations.All, threads: 1);
        var rebinding = new BatchRebinding(batch.Batched.Select(v => v.Name).ToHashSet(),
            batch.Reshapes.ToDictionary(kv => kv.Key.Outputs[0].Name, kv => kv.Value));
        using var widened = new ReferenceRunner(OnnxExporter.ToProto(model), exposed, rebinding, optimizations: OrtOptimizations.All, threads: 1);
        var seen = new HashSet<string>();
        widened.Run(stacked, exposed, (value, dims, data) =>
        {
            seen.Add(value);
            var isBatched = batch.Batched.Any(v => v.Name == value);
            Assert.Equal(isBatched ? items : 1, dims[0]);
            var floats = data.ToArray();
            for (var i = 0; i < items; i++)
            {
                var expected = single.Run(perItem[i])[value].ToFloats();
                var actual = isBatched ? floats.AsSpan(i * expected.Length, expected.Length).ToArray() : floats;
                Assert.Equal(expected.Length, actual.Length);
                for (var k = 0; k < expected.Length; k++)
                    Assert.True(Math.Abs(expected[k] - actual[k]) <= 1e-5f * Math.Max(1, Math.Abs(expected[k])),
                        $"{value}[{i}][{k}]: one item {expected[k]}, widened {actual[k]}");
            }
        });
        Assert.Equal(exposed.ToHashSet(), seen);
    }

    private static TensorData Stack(List<TensorData> items) =>
        new(items[0].ElementType, [items.Count, .. items[0].Dims.Skip(1)], items.SelectMany(t => t.Raw.ToArray()).ToArray());
}
