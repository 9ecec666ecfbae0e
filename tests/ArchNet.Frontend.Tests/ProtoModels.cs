using ArchNet.Frontend.Onnx;
using Google.Protobuf;

namespace ArchNet.Frontend.Tests;

/// <summary>Small ONNX models written directly as protobuf, for cases the IR cannot express on purpose
/// (cycles, undefined values, external data, functions).</summary>
internal static class ProtoModels
{
    public static ValueInfoProto Tensor(string name, TensorProto.Types.DataType type, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public static ValueInfoProto Floats(string name, params long[] dims) => Tensor(name, TensorProto.Types.DataType.Float, dims);

    public static NodeProto Node(string op, string[] inputs, string[] outputs, string name = "", string domain = "")
    {
        var n = new NodeProto { OpType = op };
        if (name.Length > 0) n.Name = name;
        if (domain.Length > 0) n.Domain = domain;
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    public static TensorProto FloatTensor(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    public static ModelProto Model(GraphProto graph, long opset = 17, long irVersion = 8)
    {
        var m = new ModelProto { IrVersion = irVersion, ProducerName = "archnet-tests", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    /// <summary>y = Relu(x + w), x and y float[2,3].</summary>
    public static ModelProto AddRelu()
    {
        var g = new GraphProto { Name = "add_relu" };
        g.Input.Add(Floats("x", 2, 3));
        g.Output.Add(Floats("y", 2, 3));
        g.Initializer.Add(FloatTensor("w", [2, 3], 1, -2, 3, -4, 5, -6));
        g.Node.Add(Node("Add", ["x", "w"], ["s"], "add"));
        g.Node.Add(Node("Relu", ["s"], ["y"], "relu"));
        return Model(g);
    }

    public static void Write(ModelProto model, string path) => File.WriteAllBytes(path, model.ToByteArray());
}

/// <summary>A fresh folder under the system temp folder, deleted with the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("archnet-frontend-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
