using System.Collections.Immutable;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;
using IrAttribute = ArchNet.IR.Attribute;

namespace ArchNet.Frontend;

/// <summary>
/// IR → ONNX. Writes back what the importer kept (opsets, IR version, producer, metadata, functions,
/// training info, Constant nodes, sparse initializers, annotations). Constant bytes are shared with the
/// IR, not copied. The same IR always gives the same bytes.
/// </summary>
public static class OnnxExporter
{
    /// <summary>Largest single-file model protobuf can encode.</summary>
    private const long MaxProtoBytes = int.MaxValue;

    public static ModelProto ToProto(Model model)
    {
        var proto = new ModelProto
        {
            IrVersion = model.IrVersion,
            Graph = ExportGraph(model.Graph, initializersAreInputs: model.IrVersion < 4),
        };
        foreach (var (domain, version) in model.OpsetImports)
            proto.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        if (model.ProducerName.Length > 0) proto.ProducerName = model.ProducerName;
        if (model.ProducerVersion.Length > 0) proto.ProducerVersion = model.ProducerVersion;
        if (model.Domain.Length > 0) proto.Domain = model.Domain;
        if (model.ModelVersion != 0) proto.ModelVersion = model.ModelVersion;
        if (model.DocString is not null) proto.DocString = model.DocString;
        foreach (var (key, value) in model.Metadata)
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        if (model.Extensions.GetValueOrDefault(OnnxExtensionKeys.TrainingInfo) is IEnumerable<TrainingInfoProto> training)
            proto.TrainingInfo.AddRange(training);
        if (model.Extensions.GetValueOrDefault(OnnxExtensionKeys.Functions) is IEnumerable<FunctionProto> functions)
            proto.Functions.AddRange(functions);
        if (model.Extensions.GetValueOrDefault(OnnxExtensionKeys.DeviceConfigurations) is IEnumerable<DeviceConfigurationProto> configs)
            proto.Configuration.AddRange(configs);
        return proto;
    }

    /// <summary>The model as ONNX bytes.</summary>
    public static byte[] ToBytes(Model model) => ToBytes(ToProto(model));

    /// <summary>A model built by <see cref="ToProto"/> (perhaps changed since) as ONNX bytes.</summary>
    public static byte[] ToBytes(ModelProto proto) => CheckedSize(proto, out _).ToByteArray();

    /// <summary>
    /// Writes the model to <paramref name="path"/> atomically: the bytes go to a temporary file in the same
    /// folder, which is then renamed over the target, so a failure never leaves a partial file behind.
    /// </summary>
    public static void Save(Model model, string path)
    {
        var proto = CheckedSize(ToProto(model), out var size);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder))
            throw new ArchNetException($"{path}: cannot write: folder '{folder}' does not exist");
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                stream.SetLength(size);
                proto.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }
            KillPoint.Reached(KillPoint.OnnxStaged);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new ArchNetException($"{path}: cannot write: {e.Message}", inner: e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static ModelProto CheckedSize(ModelProto proto, out long size)
    {
        // CalculateSize is an int; a model past 2 GiB would need external data, which export does not write.
        try
        {
            size = proto.CalculateSize();
        }
        catch (OverflowException)
        {
            size = -1;
        }
        if (size is < 0 or > MaxProtoBytes)
            throw new ArchNetException("model is larger than 2 GiB, which a single ONNX file cannot hold");
        return proto;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <param name="initializersAreInputs">True for the top graph of an IR 3 model, where every initializer must also be an input.</param>
    private static GraphProto ExportGraph(Graph graph, bool initializersAreInputs = false)
    {
        var gp = new GraphProto { Name = graph.Name };
        if (graph.DocString is not null) gp.DocString = graph.DocString;

        var constantNodes = graph.Extensions.GetValueOrDefault(OnnxExtensionKeys.ConstantNodes) as ConstantNodeOrigins;
        var sparse = graph.Extensions.GetValueOrDefault(OnnxExtensionKeys.SparseInitializers) as SparseInitializerOrigins;

        foreach (var v in graph.Inputs) gp.Input.Add(ValueInfo(v));
        var inputs = new HashSet<Value>(graph.Inputs);

        foreach (var c in graph.Constants)
        {
            var data = c.Constant ?? throw new ArchNetException($"constant '{c.Name}' has no data");
            if (!inputs.Contains(c) && constantNodes?.GetValueOrDefault(c) is { } origin && ReferenceEquals(origin.Data, data))
            {
                gp.Node.Add(ConstantNode(c, origin));
                continue;
            }
            if (sparse?.GetValueOrDefault(c) is { } s && ReferenceEquals(s.Data, data))
                gp.SparseInitializer.Add(s.Proto);
            else
                gp.Initializer.Add(OnnxTensors.FromTensorData(data, c.Name));
            if (initializersAreInputs && !inputs.Contains(c)) gp.Input.Add(ValueInfo(c));
        }

        foreach (var node in graph.Nodes)
        {
            gp.Node.Add(ExportNode(node));
        }

        foreach (var v in graph.Outputs) gp.Output.Add(ValueInfo(v));

        // Declared types of intermediate values, so that shapes known to the compiler reach the file.
        var outputs = new HashSet<Value>(graph.Outputs);
        foreach (var node in graph.Nodes)
            foreach (var o in node.Outputs)
                if (!o.IsAbsent && o.Type is not null && !outputs.Contains(o))
                    gp.ValueInfo.Add(ValueInfo(o));

        if (graph.Extensions.GetValueOrDefault(OnnxExtensionKeys.QuantizationAnnotations) is IEnumerable<TensorAnnotation> annotations)
            gp.QuantizationAnnotation.AddRange(annotations);
        if (graph.Extensions.GetValueOrDefault(OnnxExtensionKeys.GraphMetadata) is IEnumerable<KeyValuePair<string, string>> metadata)
            foreach (var (key, value) in metadata)
                gp.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return gp;
    }

    private static NodeProto ConstantNode(Value v, ConstantNodeOrigin origin)
    {
        var node = new NodeProto { OpType = "Constant" };
        if (origin.NodeName.Length > 0) node.Name = origin.NodeName;
        if (origin.DocString is not null) node.DocString = origin.DocString;
        node.Output.Add(v.Name);
        var d = origin.Data;
        var a = new AttributeProto { Name = origin.AttributeName };
        switch (origin.AttributeName)
        {
            case "value_float":
                a.Type = AttributeProto.Types.AttributeType.Float;
                a.F = d.ToFloats()[0];
                break;
            case "value_floats":
                a.Type = AttributeProto.Types.AttributeType.Floats;
                a.Floats.AddRange(d.ToFloats());
                break;
            case "value_int":
                a.Type = AttributeProto.Types.AttributeType.Int;
                a.I = d.ToInt64s()[0];
                break;
            case "value_ints":
                a.Type = AttributeProto.Types.AttributeType.Ints;
                a.Ints.AddRange(d.ToInt64s());
                break;
            case "value_string":
                a.Type = AttributeProto.Types.AttributeType.String;
                a.S = ByteString.CopyFrom(d.Strings[0]);
                break;
            case "value_strings":
                a.Type = AttributeProto.Types.AttributeType.Strings;
                a.Strings.AddRange(d.Strings.Select(ByteString.CopyFrom));
                break;
            default:
                a.Name = "value";
                a.Type = AttributeProto.Types.AttributeType.Tensor;
                a.T = OnnxTensors.FromTensorData(d);
                break;
        }
        node.Attribute.Add(a);
        return node;
    }

    private static NodeProto ExportNode(Node node)
    {
        var np = new NodeProto { OpType = node.OpType };
        if (node.Name.Length > 0) np.Name = node.Name;
        if (node.Domain.Length > 0) np.Domain = node.Domain;
        if (node.Overload is not null) np.Overload = node.Overload;
        if (node.DocString is not null) np.DocString = node.DocString;
        foreach (var v in node.Inputs) np.Input.Add(v?.Name ?? "");
        foreach (var v in node.Outputs) np.Output.Add(v.Name);
        foreach (var a in node.Attributes.Values) np.Attribute.Add(ExportAttribute(a));
        foreach (var (key, value) in node.Metadata)
            np.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return np;
    }

    private static AttributeProto ExportAttribute(IrAttribute attribute)
    {
        if (attribute is { Kind: AttributeKind.Undefined, Value: AttributeProto original })
            return original;
        var a = new AttributeProto { Name = attribute.Name, Type = (AttributeProto.Types.AttributeType)(int)attribute.Kind };
        if (attribute.RefAttrName is not null) a.RefAttrName = attribute.RefAttrName;
        if (attribute.DocString is not null) a.DocString = attribute.DocString;
        var value = attribute.Value;
        switch (attribute.Kind)
        {
            case AttributeKind.Float: a.F = Convert.ToSingle(value); break;
            case AttributeKind.Int: a.I = Convert.ToInt64(value); break;
            case AttributeKind.String: a.S = ByteString.CopyFromUtf8((string)value); break;
            case AttributeKind.Tensor: a.T = OnnxTensors.FromTensorData((TensorData)value); break;
            case AttributeKind.Graph: a.G = ExportGraph((Graph)value); break;
            case AttributeKind.Floats: a.Floats.AddRange((ImmutableArray<float>)value); break;
            case AttributeKind.Ints: a.Ints.AddRange((ImmutableArray<long>)value); break;
            case AttributeKind.Strings: a.Strings.AddRange(((ImmutableArray<string>)value).Select(ByteString.CopyFromUtf8)); break;
            case AttributeKind.Tensors: a.Tensors.AddRange(((ImmutableArray<TensorData>)value).Select(t => OnnxTensors.FromTensorData(t))); break;
            case AttributeKind.Graphs: a.Graphs.AddRange(((ImmutableArray<Graph>)value).Select(g => ExportGraph(g))); break;
            case AttributeKind.SparseTensor: a.SparseTensor = (SparseTensorProto)value; break;
            case AttributeKind.SparseTensors: a.SparseTensors.AddRange((IEnumerable<SparseTensorProto>)value); break;
            case AttributeKind.TypeProto: a.Tp = (TypeProto)value; break;
            case AttributeKind.TypeProtos: a.TypeProtos.AddRange((IEnumerable<TypeProto>)value); break;
            default: throw new ArchNetException($"attribute '{attribute.Name}' of kind {attribute.Kind} cannot be written to ONNX");
        }
        return a;
    }

    private static ValueInfoProto ValueInfo(Value v)
    {
        var vi = new ValueInfoProto { Name = v.Name };
        if (OnnxTypes.FromIr(v.Type) is { } type) vi.Type = type;
        if (v.DocString is not null) vi.DocString = v.DocString;
        return vi;
    }
}
