using ArchNet.Frontend;
using ArchNet.Frontend.Onnx;
using ArchNet.Testing;
using Google.Protobuf;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Cli.Tests;

/// <summary>Model files the tests hand to archnetc: good ones from the graph builder, broken ones written as protobuf.</summary>
internal static class Models
{
    private static ValueInfoProto Floats(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private static ModelProto Model(GraphProto graph)
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "archnet-cli-tests", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return m;
    }

    /// <summary>y = Relu(x + w), x and y float[2,3], w an initializer.</summary>
    public static ModelProto AddRelu()
    {
        var g = new GraphProto { Name = "add_relu" };
        g.Input.Add(Floats("x", 2, 3));
        g.Output.Add(Floats("y", 2, 3));
        var w = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float };
        w.Dims.AddRange([2, 3]);
        w.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new float[] { 1, -2, 3, -4, 5, -6 }.AsSpan()));
        g.Initializer.Add(w);
        g.Node.Add(Node("Add", "add", ["x", "w"], ["s"]));
        g.Node.Add(Node("Relu", "relu", ["s"], ["y"]));
        return Model(g);
    }

    public static string Write(ModelProto model, string path)
    {
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    public static string Truncated(string path)
    {
        var bytes = AddRelu().ToByteArray();
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        return path;
    }

    public static string RandomBytes(string path)
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static string Cycle(string path)
    {
        var g = new GraphProto { Name = "cyclic" };
        g.Input.Add(Floats("x", 2));
        g.Output.Add(Floats("b", 2));
        g.Node.Add(Node("Add", "first", ["x", "b"], ["a"]));
        g.Node.Add(Node("Relu", "second", ["a"], ["b"]));
        return Write(Model(g), path);
    }

    public static string UndefinedValue(string path)
    {
        var g = new GraphProto { Name = "dangling" };
        g.Input.Add(Floats("x", 2));
        g.Output.Add(Floats("y", 2));
        g.Node.Add(Node("Add", "adder", ["x", "nowhere"], ["y"]));
        return Write(Model(g), path);
    }

    /// <summary>AddRelu with w's bytes said to live at <paramref name="location"/> (outside the model's folder).</summary>
    public static string ExternalData(string path, string location)
    {
        var m = AddRelu();
        var w = m.Graph.Initializer[0];
        w.ClearRawData();
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        return Write(m, path);
    }

    /// <summary>A small classifier (conv, relu, pool, FC) on a 1x1x8x8 input: seconds to compile.</summary>
    public static string TinyClassifier(string path)
    {
        var b = new GraphBuilder(opset: 13, seed: 5);
        var x = b.Input("input", 1, 1, 8, 8);
        var c = b.Op("Conv", [x, b.Random([4, 1, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1));
        var p = b.Op("Flatten", b.Op("GlobalAveragePool", b.Op("Relu", c)));
        b.Output(b.Op("Gemm", [p, b.Random([10, 4]), b.Random([10])], Attribute.Int("transB", 1)));
        OnnxExporter.Save(b.Build(), path);
        return path;
    }
}
