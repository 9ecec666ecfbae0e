using System.Collections.Immutable;
using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.TFLite.Tests;

/// <summary>The flatbuffer's frame and the backend's refusals, on graphs built from the contract's types.</summary>
public sealed class TFLiteBackendTests
{
    private static readonly QuantInfo I8 = new(8, true, [0.05f], [-3]);

    private static TensorValue Act(string name, params long[] shape) => new(name, TensorElementType.Int8, [.. shape], I8);

    private static QuantizedGraph Graph(params Operation[] nodes)
    {
        var x = new TensorValue("x", TensorElementType.Float, [1, 4], I8);
        return new QuantizedGraph("g", "arm-ethos-u55", new QuantSemantics(RoundingMode.HalfAwayFromZero, RequantizationMode.MultiplierShift),
            [x], [nodes[^1].Outputs[0]], nodes);
    }

    private static Operation Node(string name, string op, TensorValue input, TensorValue output) =>
        new(name, op, "", [input], [output], new Dictionary<string, AttributeValue>());

    [Fact]
    public void Emit_WritesTFL3Flatbuffer_SameBytesTwice()
    {
        var g = Graph(Node("r", "Relu", new TensorValue("x", TensorElementType.Float, [1, 4], I8), Act("y", 1, 4)));
        var backend = new TFLiteBackend();
        Assert.Empty(backend.Validate(g, "arm-ethos-u55"));
        var dir = Directory.CreateTempSubdirectory("tflite-").FullName;
        try
        {
            backend.Emit(g, dir);
            var first = File.ReadAllBytes(Path.Combine(dir, TFLiteBackend.ArtifactName));
            backend.Emit(g, dir);
            var second = File.ReadAllBytes(Path.Combine(dir, TFLiteBackend.ArtifactName));
            Assert.Equal("TFL3", System.Text.Encoding.ASCII.GetString(first, 4, 4)); // the file identifier follows the root offset
            Assert.Equal(first, second);
            Assert.False(File.Exists(Path.Combine(dir, TFLiteBackend.ArtifactName + ".tmp")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Validate_RefusesAnOpWithoutBuiltin_InOneLineNamingNodeAndOp()
    {
        var g = Graph(Node("erf1", "Erf", new TensorValue("x", TensorElementType.Float, [1, 4], I8), Act("y", 1, 4)));
        var problem = Assert.Single(new TFLiteBackend().Validate(g, "arm-ethos-u55"));
        Assert.Equal("erf1", problem.Node);
        Assert.StartsWith("Erf: no TFLite builtin", problem.Message);
        Assert.DoesNotContain('\n', problem.ToString());
    }

    [Fact]
    public void Validate_ReportsTheFirstRefusal_NotTheNodesThatReadItsOutput()
    {
        var x = new TensorValue("x", TensorElementType.Float, [1, 4], I8);
        var g = Graph(Node("erf1", "Erf", x, Act("e", 1, 4)), Node("r", "Relu", Act("e", 1, 4), Act("y", 1, 4)));
        Assert.Equal("erf1", Assert.Single(new TFLiteBackend().Validate(g, "arm-ethos-u55")).Node);
    }
}
