using System.Collections.Immutable;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;
using IrAttribute = ArchNet.IR.Attribute;

namespace ArchNet.Frontend;

/// <summary>
/// ONNX → IR. Accepts IR versions 3 to 13 and any opset: operators are not interpreted here, so unknown
/// domains and ops come through as ordinary nodes for the audit to judge. Constant nodes become constant
/// values; If/Loop/Scan bodies become IR subgraphs whose reads of enclosing values point at those values.
/// Everything without IR meaning (functions, training info, sparse initializers, annotations) is kept
/// in the Extensions dictionaries so that export writes it back.
/// </summary>
public sealed class OnnxImporter
{
    public const long MinIrVersion = 3;
    public const long MaxIrVersion = 13;

    private readonly string _file;
    private readonly ExternalData _external;

    private OnnxImporter(string file, string? folder)
    {
        _file = file;
        _external = new ExternalData(file, folder);
    }

    /// <summary>Reads and imports a model file. Every problem with the file is an <see cref="ArchNetException"/>
    /// whose one-line message names the file.</summary>
    public static Model Load(string path) => Load(ReadFile(path), path);

    /// <summary>Imports a model file already read into memory by <see cref="ReadFile"/> (the compile reads its file once:
    /// the student, the teacher and ONNX Runtime's reference all come from the same bytes). <paramref name="path"/> names
    /// it in messages and locates its external data.</summary>
    public static Model Load(byte[] bytes, string path)
    {
        // The proto is only imported: large float_data fields may come as raw_data over the file's buffer.
        var proto = Parse(bytes, path, floatDataAsRawData: true);
        return Import(proto, path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>Parses a model file without importing it. The file is read once into memory and its large
    /// tensors keep pointing into that buffer (see <see cref="ZeroCopyModelReader"/>), so the weights are
    /// never held twice.</summary>
    public static ModelProto ReadProto(string path) => Parse(ReadFile(path), path, floatDataAsRawData: false);

    private static ModelProto Parse(byte[] bytes, string path, bool floatDataAsRawData)
    {
        try
        {
            return ZeroCopyModelReader.Parse(bytes, floatDataAsRawData);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ArchNetException($"{path}: not a valid ONNX model: {OneLine(e.Message)}", inner: e);
        }
    }

    /// <summary>The bytes of a model file; every problem reading it is one line naming the file.</summary>
    public static byte[] ReadFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            if (stream.Length > Array.MaxLength)
                throw new ArchNetException($"{path}: {stream.Length} bytes is more than a single ONNX file can hold (2 GiB)");
            var bytes = GC.AllocateUninitializedArray<byte>((int)stream.Length);
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArchNetException($"{path}: file not found", inner: e);
        }
        catch (Exception e) when ((e is IOException or UnauthorizedAccessException) && Directory.Exists(path))
        {
            // The runtime says "access denied" for a folder, which sends the user after permissions.
            throw new ArchNetException($"{path}: is a folder, not an ONNX model file", inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArchNetException($"{path}: cannot read: {OneLine(e.Message)}", inner: e);
        }
    }

    /// <summary>Imports a parsed model. <paramref name="file"/> names it in messages; external data is
    /// resolved relative to <paramref name="folder"/> (none allowed when null).</summary>
    public static Model Import(ModelProto proto, string file = "model", string? folder = null)
    {
        var importer = new OnnxImporter(file, folder);
        try
        {
            var model = importer.ImportModel(proto);
            Verifier.Verify(model);
            return model;
        }
        catch (ArchNetException e) when (!e.Message.StartsWith(file + ":", StringComparison.Ordinal))
        {
            throw new ArchNetException($"{file}: {e.Message}", e.ExitCode, e);
        }
    }

    private Model ImportModel(ModelProto proto)
    {
        if (proto.Graph is null)
            throw Fail("not an ONNX model: it has no graph");
        if (!proto.HasIrVersion)
            throw Fail("not an ONNX model: ir_version is missing");
        if (proto.IrVersion is < MinIrVersion or > MaxIrVersion)
            throw Fail($"ONNX IR version {proto.IrVersion} is not supported (supported: {MinIrVersion} to {MaxIrVersion})");

        var graph = ImportGraph(proto.Graph, null, null);
        var model = new Model(graph)
        {
            IrVersion = proto.IrVersion,
            ProducerName = proto.ProducerName,
            ProducerVersion = proto.ProducerVersion,
            Domain = proto.Domain,
            ModelVersion = proto.ModelVersion,
            DocString = proto.HasDocString ? proto.DocString : null,
            SourcePath = _file,
        };
        foreach (var op in proto.OpsetImport) model.OpsetImports.Add(new(op.Domain, op.Version));
        foreach (var m in proto.MetadataProps) model.Metadata.Add(new(m.Key, m.Value));
        if (proto.Functions.Count > 0) model.Extensions[OnnxExtensionKeys.Functions] = proto.Functions.ToList();
        if (proto.TrainingInfo.Count > 0) model.Extensions[OnnxExtensionKeys.TrainingInfo] = proto.TrainingInfo.ToList();
        if (proto.Configuration.Count > 0) model.Extensions[OnnxExtensionKeys.DeviceConfigurations] = proto.Configuration.ToList();
        return model;
    }

    /// <summary>A declared type; a negative dimension (which no tensor can have) is refused naming the value.</summary>
    private ArchNet.IR.ValueType? TypeOf(ValueInfoProto vi, string where, string what)
    {
        var type = OnnxTypes.ToIr(vi.Type);
        if (type is TensorType { Shape: { } shape } && shape.Dims.Any(d => d.Value < 0))
            throw Fail($"{where}{what} '{vi.Name}' is declared with shape {shape}: a dimension cannot be negative");
        return type;
    }

    /// <summary>Names visible in a graph: its own definitions, then those of enclosing graphs.</summary>
    private sealed class Scope(Scope? outer)
    {
        private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);

        public bool DefinesLocally(string name) => _values.ContainsKey(name);

        public void Define(Value v) => _values[v.Name] = v;

        public Value? Lookup(string name)
        {
            for (var s = this; s is not null; s = s.Outer)
                if (s._values.TryGetValue(name, out var v)) return v;
            return null;
        }

        private Scope? Outer => outer;
    }

    private Graph ImportGraph(GraphProto gp, Scope? outer, Graph? parent)
    {
        var graph = new Graph(gp.Name) { Parent = parent, DocString = gp.HasDocString ? gp.DocString : null };
        var where = parent is null ? "" : $"subgraph '{gp.Name}': ";
        var scope = new Scope(outer);

        var declared = new Dictionary<string, ValueInfoProto>(StringComparer.Ordinal);
        foreach (var vi in gp.ValueInfo) declared.TryAdd(vi.Name, vi);

        var constants = new Dictionary<string, Value>(StringComparer.Ordinal);
        foreach (var t in gp.Initializer)
        {
            if (t.Name.Length == 0) throw Fail($"{where}an initializer has no name");
            var data = OnnxTensors.ToTensorData(t, $"{where}initializer '{t.Name}'", _external, _file);
            var v = new Value(t.Name, data.Type, data) { DocString = t.HasDocString ? t.DocString : null };
            if (!constants.TryAdd(t.Name, v)) throw Fail($"{where}initializer '{t.Name}' is defined twice");
            graph.Constants.Add(v);
        }
        foreach (var s in gp.SparseInitializer)
        {
            var name = s.Values?.Name ?? "";
            if (name.Length == 0) throw Fail($"{where}a sparse initializer has no name");
            var data = OnnxTensors.Densify(s, $"{where}sparse initializer '{name}'", _external, _file);
            var v = new Value(name, data.Type, data);
            if (!constants.TryAdd(name, v)) throw Fail($"{where}initializer '{name}' is defined twice");
            graph.Constants.Add(v);
            Extension<SparseInitializerOrigins>(graph, OnnxExtensionKeys.SparseInitializers)[v] = new(s, data);
        }

        foreach (var vi in gp.Input)
        {
            if (vi.Name.Length == 0) throw Fail($"{where}a graph input has no name");
            if (scope.DefinesLocally(vi.Name)) throw Fail($"{where}graph input '{vi.Name}' is listed twice");
            var type = TypeOf(vi, where, "graph input");
            if (constants.TryGetValue(vi.Name, out var v))
            {
                // An initializer that is also an input: a default the caller may override (IR 3 requires this form).
                if (type is not null) v.Type = type;
            }
            else
            {
                v = new Value(vi.Name, type);
            }
            if (vi.HasDocString) v.DocString = vi.DocString;
            graph.Inputs.Add(v);
            scope.Define(v);
        }
        foreach (var c in graph.Constants)
            if (!scope.DefinesLocally(c.Name)) scope.Define(c);

        // Declare every node output first, so that reads are resolved whatever the node order; a graph
        // that is not topologically sorted is sorted below, and one with a cycle is reported.
        var outputs = new List<Value>[gp.Node.Count];
        for (var i = 0; i < gp.Node.Count; i++)
        {
            var np = gp.Node[i];
            var list = new List<Value>(np.Output.Count);
            foreach (var name in np.Output)
            {
                if (name.Length == 0)
                {
                    list.Add(new Value(""));
                    continue;
                }
                if (scope.DefinesLocally(name))
                    throw Fail($"{where}value '{name}' is defined twice (again by node '{NodeLabel(np)}')");
                var v = new Value(name, declared.TryGetValue(name, out var vi) ? TypeOf(vi, where, "value") : null);
                if (vi is not null && vi.HasDocString) v.DocString = vi.DocString;
                scope.Define(v);
                list.Add(v);
            }
            outputs[i] = list;
        }

        ConstantNodeOrigins? constantNodes = null;
        for (var i = 0; i < gp.Node.Count; i++)
        {
            var np = gp.Node[i];
            if (TryConstant(np, outputs[i], where) is { } folded)
            {
                var v = outputs[i][0];
                v.Constant = folded.Data;
                v.Type = folded.Data.Type;
                graph.Constants.Add(v);
                constantNodes ??= Extension<ConstantNodeOrigins>(graph, OnnxExtensionKeys.ConstantNodes);
                constantNodes[v] = folded;
                continue;
            }

            if (np.OpType.Length == 0) throw Fail($"{where}node '{NodeLabel(np)}' has no op_type");
            var inputs = new List<Value?>(np.Input.Count);
            foreach (var name in np.Input)
            {
                if (name.Length == 0)
                {
                    inputs.Add(null);
                    continue;
                }
                inputs.Add(scope.Lookup(name) ?? throw Fail(
                    $"{where}node '{NodeLabel(np)}' ({np.OpType}) reads '{name}', which no node, input or initializer defines"));
            }
            var attributes = np.Attribute.Select(a => ImportAttribute(a, scope, graph, $"{where}node '{NodeLabel(np)}'")).ToList();
            var node = new Node(np.OpType, inputs, outputs[i], attributes, np.Name, np.Domain)
            {
                Overload = np.HasOverload ? np.Overload : null,
                DocString = np.HasDocString ? np.DocString : null,
            };
            foreach (var m in np.MetadataProps) node.Metadata.Add(new(m.Key, m.Value));
            graph.Add(node);
        }

        foreach (var vi in gp.Output)
        {
            var v = scope.Lookup(vi.Name) ?? throw Fail($"{where}graph output '{vi.Name}' is never defined");
            if (TypeOf(vi, where, "graph output") is { } type && !v.IsConstant) v.Type = type;
            if (vi.HasDocString) v.DocString = vi.DocString;
            graph.Outputs.Add(v);
        }

        if (gp.QuantizationAnnotation.Count > 0)
            graph.Extensions[OnnxExtensionKeys.QuantizationAnnotations] = gp.QuantizationAnnotation.ToList();
        if (gp.MetadataProps.Count > 0)
            graph.Extensions[OnnxExtensionKeys.GraphMetadata] =
                gp.MetadataProps.Select(m => new KeyValuePair<string, string>(m.Key, m.Value)).ToList();

        graph.SortTopologically();
        return graph;
    }

    /// <summary>A Constant node's value when it is a plain tensor (not sparse, not a function attribute reference).</summary>
    private ConstantNodeOrigin? TryConstant(NodeProto np, List<Value> outputs, string where)
    {
        if (np.OpType != "Constant" || np.Domain is not ("" or "ai.onnx") || np.Attribute.Count != 1 || outputs.Count != 1)
            return null;
        if (outputs[0].IsAbsent || np.Input.Count != 0 || np.MetadataProps.Count > 0 || np.HasOverload) return null;
        var a = np.Attribute[0];
        if (a.HasRefAttrName) return null;
        var what = $"{where}Constant node '{NodeLabel(np)}'";
        TensorData? data = a.Name switch
        {
            "value" when a.T is not null => OnnxTensors.ToTensorData(a.T, what, _external, _file),
            "value_float" => TensorData.Scalar(a.F),
            "value_floats" => TensorData.FromFloats([a.Floats.Count], [.. a.Floats]),
            "value_int" => TensorData.FromInt64s([], [a.I]),
            "value_ints" => TensorData.FromInt64s([a.Ints.Count], [.. a.Ints]),
            "value_string" => TensorData.FromStrings([], [a.S.ToByteArray()]),
            "value_strings" => TensorData.FromStrings([a.Strings.Count], a.Strings.Select(s => s.ToByteArray())),
            _ => null,
        };
        return data is null ? null : new ConstantNodeOrigin(np.Name, a.Name, np.HasDocString ? np.DocString : null, data);
    }

    private IrAttribute ImportAttribute(AttributeProto a, Scope scope, Graph owner, string where)
    {
        var kind = a.HasType ? (AttributeKind)(int)a.Type : GuessKind(a);
        var what = $"{where} attribute '{a.Name}'";
        object value = kind switch
        {
            AttributeKind.Float => a.F,
            AttributeKind.Int => a.I,
            AttributeKind.String => a.S.ToStringUtf8(),
            AttributeKind.Tensor => a.T is null ? throw Fail($"{what} has no tensor") : OnnxTensors.ToTensorData(a.T, what, _external, _file),
            AttributeKind.Graph => a.G is null ? throw Fail($"{what} has no graph") : ImportGraph(a.G, scope, owner),
            AttributeKind.Floats => ImmutableArray.CreateRange(a.Floats),
            AttributeKind.Ints => ImmutableArray.CreateRange(a.Ints),
            AttributeKind.Strings => ImmutableArray.CreateRange(a.Strings.Select(s => s.ToStringUtf8())),
            AttributeKind.Tensors => ImmutableArray.CreateRange(a.Tensors.Select(t => OnnxTensors.ToTensorData(t, what, _external, _file))),
            AttributeKind.Graphs => ImmutableArray.CreateRange(a.Graphs.Select(g => ImportGraph(g, scope, owner))),
            // No IR meaning: carried as the protobuf message, written back as is.
            AttributeKind.SparseTensor => (object?)a.SparseTensor ?? throw Fail($"{what} has no sparse tensor"),
            AttributeKind.SparseTensors => a.SparseTensors.ToList(),
            AttributeKind.TypeProto => (object?)a.Tp ?? throw Fail($"{what} has no type"),
            AttributeKind.TypeProtos => a.TypeProtos.ToList(),
            _ => a,
        };
        return new IrAttribute(a.Name, kind, value)
        {
            RefAttrName = a.HasRefAttrName ? a.RefAttrName : null,
            DocString = a.HasDocString ? a.DocString : null,
        };
    }

    /// <summary>IR version 1 files have no type discriminator; the kind follows from the field that is set.</summary>
    private static AttributeKind GuessKind(AttributeProto a) =>
        a.HasRefAttrName ? AttributeKind.Undefined
        : a.HasF ? AttributeKind.Float
        : a.HasI ? AttributeKind.Int
        : a.HasS ? AttributeKind.String
        : a.T is not null ? AttributeKind.Tensor
        : a.G is not null ? AttributeKind.Graph
        : a.SparseTensor is not null ? AttributeKind.SparseTensor
        : a.Tp is not null ? AttributeKind.TypeProto
        : a.Floats.Count > 0 ? AttributeKind.Floats
        : a.Ints.Count > 0 ? AttributeKind.Ints
        : a.Strings.Count > 0 ? AttributeKind.Strings
        : a.Tensors.Count > 0 ? AttributeKind.Tensors
        : a.Graphs.Count > 0 ? AttributeKind.Graphs
        : a.SparseTensors.Count > 0 ? AttributeKind.SparseTensors
        : a.TypeProtos.Count > 0 ? AttributeKind.TypeProtos
        : AttributeKind.Undefined;

    private static T Extension<T>(Graph graph, string key) where T : class, new()
    {
        if (graph.Extensions.TryGetValue(key, out var existing)) return (T)existing;
        var created = new T();
        graph.Extensions[key] = created;
        return created;
    }

    private static string NodeLabel(NodeProto np) =>
        np.Name.Length > 0 ? np.Name : $"{np.OpType}->{np.Output.FirstOrDefault() ?? ""}";

    private ArchNetException Fail(string problem) => new($"{_file}: {problem}");

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
}
