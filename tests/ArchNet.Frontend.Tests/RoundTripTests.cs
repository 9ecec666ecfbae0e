using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using ArchNet.Testing;
using Google.Protobuf;

namespace ArchNet.Frontend.Tests;

/// <summary>Import then export keeps the model's meaning and everything the IR does not interpret.</summary>
public sealed class RoundTripTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static ModelProto RoundTrip(ModelProto proto) => OnnxExporter.ToProto(OnnxImporter.Import(proto));

    private static Dictionary<string, TensorData> Run(ModelProto proto, Dictionary<string, TensorData> inputs) =>
        OrtRunner.Run(proto.ToByteArray(), inputs);

    [Fact]
    public void ConstantNode_BecomesAConstantValue_AndIsWrittenBackAsAConstantNode()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(ProtoModels.Floats("x", 3));
        g.Output.Add(ProtoModels.Floats("y", 3));
        var constant = ProtoModels.Node("Constant", [], ["k"], "k_node");
        constant.Attribute.Add(new AttributeProto { Name = "value_floats", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1, 2, 3 } });
        g.Node.Add(constant);
        g.Node.Add(ProtoModels.Node("Mul", ["x", "k"], ["y"], "mul"));
        var proto = ProtoModels.Model(g);

        var model = OnnxImporter.Import(proto);
        var k = Assert.Single(model.Graph.Constants);
        Assert.Equal([1f, 2f, 3f], k.Constant!.ToFloats());
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "Constant");

        var back = OnnxExporter.ToProto(model);
        var node = Assert.Single(back.Graph.Node, n => n.OpType == "Constant");
        Assert.Equal("k_node", node.Name);
        Assert.Equal("value_floats", node.Attribute.Single().Name);
        Assert.Empty(back.Graph.Initializer);
        var x = new Dictionary<string, TensorData> { ["x"] = TensorData.FromFloats([3], [1, 1, 2]) };
        Assert.Equal([1f, 2f, 6f], Run(back, x)["y"].ToFloats());
    }

    [Fact]
    public void IfBranches_BecomeSubgraphs_WhoseOuterReadsAreTheEnclosingValues()
    {
        GraphProto Branch(string name, string op)
        {
            var b = new GraphProto { Name = name };
            b.Output.Add(ProtoModels.Floats(name + "_out", 2));
            b.Node.Add(ProtoModels.Node(op, ["x"], [name + "_out"])); // reads x of the main graph
            return b;
        }
        var g = new GraphProto { Name = "g" };
        g.Input.Add(ProtoModels.Tensor("c", TensorProto.Types.DataType.Bool));
        g.Input.Add(ProtoModels.Floats("x", 2));
        g.Output.Add(ProtoModels.Floats("y", 2));
        var node = ProtoModels.Node("If", ["c"], ["y"], "branch");
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("then", "Relu") });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("else", "Neg") });
        g.Node.Add(node);
        var proto = ProtoModels.Model(g);

        var model = OnnxImporter.Import(proto);
        var x = model.Graph.Inputs[1];
        var then = model.Graph.Nodes.Single().Attr("then_branch")!.AsGraph();
        Assert.Same(model.Graph, then.Parent);
        Assert.Same(x, then.Nodes.Single().Inputs[0]);
        Assert.Contains(x, then.OuterReads());
        Verifier.Verify(model);

        var back = OnnxExporter.ToProto(model);
        var inputs = new Dictionary<string, TensorData>
        {
            ["c"] = new(ElementType.Bool, [], new byte[] { 0 }),
            ["x"] = TensorData.FromFloats([2], [-1, 2]),
        };
        Assert.Equal(Run(proto, inputs)["y"].ToFloats(), Run(back, inputs)["y"].ToFloats());
    }

    [Fact]
    public void UnknownDomainAndOp_ArePreservedWithTheirAttributes()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(ProtoModels.Floats("x", 2));
        g.Output.Add(ProtoModels.Floats("y", 2));
        var node = ProtoModels.Node("Frobnicate", ["x"], ["y"], "frob", "com.acme");
        node.Attribute.Add(new AttributeProto { Name = "level", Type = AttributeProto.Types.AttributeType.Int, I = 7 });
        node.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("fast") });
        g.Node.Add(node);
        var proto = ProtoModels.Model(g);
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.acme", Version = 3 });

        var model = OnnxImporter.Import(proto);
        var n = model.Graph.Nodes.Single();
        Assert.Equal(("com.acme", "Frobnicate", 7L), (n.Domain, n.OpType, n.GetInt("level", 0)));
        var back = RoundTrip(proto);
        Assert.Equal(proto.Graph.Node[0], back.Graph.Node[0]);
        Assert.Equal(proto.OpsetImport, back.OpsetImport);
    }

    [Fact]
    public void ModelLevelParts_FunctionsTrainingInfoMetadataDocStrings_SurviveTheRoundTrip()
    {
        var proto = ProtoModels.AddRelu();
        proto.DocString = "model doc";
        proto.ProducerVersion = "1.2";
        proto.Domain = "org.example";
        proto.ModelVersion = 5;
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "author", Value = "me" });
        proto.Graph.DocString = "graph doc";
        proto.Graph.MetadataProps.Add(new StringStringEntryProto { Key = "stage", Value = "test" });
        proto.Graph.Node[0].DocString = "node doc";
        proto.Graph.Node[0].MetadataProps.Add(new StringStringEntryProto { Key = "origin", Value = "layer1" });
        proto.Graph.QuantizationAnnotation.Add(new TensorAnnotation
        {
            TensorName = "s",
            QuantParameterTensorNames = { new StringStringEntryProto { Key = "SCALE_TENSOR", Value = "w" } },
        });
        var function = new FunctionProto { Name = "Twice", Domain = "local", Input = { "a" }, Output = { "b" } };
        function.Node.Add(ProtoModels.Node("Add", ["a", "a"], ["b"]));
        function.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        proto.Functions.Add(function);
        proto.TrainingInfo.Add(new TrainingInfoProto
        {
            Algorithm = new GraphProto { Name = "step" },
            UpdateBinding = { new StringStringEntryProto { Key = "w", Value = "w_new" } },
        });

        var back = RoundTrip(proto);
        Assert.Equal(proto.DocString, back.DocString);
        Assert.Equal(proto.ProducerName, back.ProducerName);
        Assert.Equal(proto.ProducerVersion, back.ProducerVersion);
        Assert.Equal(proto.Domain, back.Domain);
        Assert.Equal(proto.ModelVersion, back.ModelVersion);
        Assert.Equal(proto.IrVersion, back.IrVersion);
        Assert.Equal(proto.MetadataProps, back.MetadataProps);
        Assert.Equal(proto.Functions, back.Functions);
        Assert.Equal(proto.TrainingInfo, back.TrainingInfo);
        Assert.Equal(proto.Graph.DocString, back.Graph.DocString);
        Assert.Equal(proto.Graph.MetadataProps, back.Graph.MetadataProps);
        Assert.Equal(proto.Graph.QuantizationAnnotation, back.Graph.QuantizationAnnotation);
        Assert.Equal(proto.Graph.Node[0], back.Graph.Node[0]);
    }

    [Fact]
    public void SparseInitializer_IsDenseInTheIr_AndWrittenBackSparse()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(ProtoModels.Floats("x", 2, 2));
        g.Output.Add(ProtoModels.Floats("y", 2, 2));
        var values = ProtoModels.FloatTensor("w", [2], 5, 7);
        var indices = new TensorProto { Name = "w_idx", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 2 }, Int64Data = { 1, 2 } };
        g.SparseInitializer.Add(new SparseTensorProto { Values = values, Indices = indices, Dims = { 2, 2 } });
        g.Node.Add(ProtoModels.Node("Add", ["x", "w"], ["y"]));
        var proto = ProtoModels.Model(g);

        var model = OnnxImporter.Import(proto);
        Assert.Equal([0f, 5f, 7f, 0f], model.Graph.Constants.Single().Constant!.ToFloats());
        var back = OnnxExporter.ToProto(model);
        Assert.Equal(proto.Graph.SparseInitializer, back.Graph.SparseInitializer);
        Assert.Empty(back.Graph.Initializer);
    }

    [Fact]
    public void NonTensorTypes_AreCarriedOpaquely_AndWrittenBackUnchanged()
    {
        var seqType = new TypeProto
        {
            SequenceType = new TypeProto.Types.Sequence { ElemType = ProtoModels.Floats("_", 2).Type },
        };
        var g = new GraphProto { Name = "g" };
        g.Input.Add(new ValueInfoProto { Name = "s", Type = seqType });
        g.Output.Add(ProtoModels.Tensor("n", TensorProto.Types.DataType.Int64));
        g.Node.Add(ProtoModels.Node("SequenceLength", ["s"], ["n"]));
        var proto = ProtoModels.Model(g);

        var model = OnnxImporter.Import(proto);
        var opaque = Assert.IsType<OpaqueType>(model.Graph.Inputs[0].Type);
        Assert.Equal("seq(float32[2])", opaque.Description);
        Assert.Equal(proto.Graph.Input, RoundTrip(proto).Graph.Input);
    }

    [Fact]
    public void Ir3Model_KeepsInitializersAmongTheInputs()
    {
        var proto = ProtoModels.AddRelu();
        proto.IrVersion = 3;
        proto.OpsetImport[0].Version = 8;
        proto.Graph.Input.Add(ProtoModels.Floats("w", 2, 3));
        var model = OnnxImporter.Import(proto);
        var w = model.Graph.Constants.Single();
        Assert.Contains(w, model.Graph.Inputs);

        // A constant added later (e.g. by a pass) is listed as an input too, as IR 3 requires.
        model.Graph.AddConstant("extra", TensorData.Scalar(1));
        var back = OnnxExporter.ToProto(model);
        Assert.Equal(["x", "w", "extra"], back.Graph.Input.Select(i => i.Name));
    }

    [Fact]
    public void Initializers_ShareTheParsedBytes_AndExportSharesTheIrBytes()
    {
        var proto = ProtoModels.AddRelu();
        var model = OnnxImporter.Import(proto);
        var data = model.Graph.Constants.Single().Constant!;
        Assert.True(Unsafe.AreSame(
            ref MemoryMarshal.GetReference(proto.Graph.Initializer[0].RawData.Span),
            ref MemoryMarshal.GetReference(data.Raw.Span)));
        var back = OnnxExporter.ToProto(model);
        Assert.True(Unsafe.AreSame(
            ref MemoryMarshal.GetReference(back.Graph.Initializer[0].RawData.Span),
            ref MemoryMarshal.GetReference(data.Raw.Span)));
    }

    [Fact]
    public void LargeTensorsInSubgraphsAndConstantNodes_AreReadFromTheFileWithoutChange()
    {
        var big = Enumerable.Range(0, 1000).Select(i => (float)i).ToArray();
        var branch = new GraphProto { Name = "then" };
        branch.Output.Add(ProtoModels.Floats("t_out", 1000));
        var inner = ProtoModels.Node("Constant", [], ["t_out"], "inner_const");
        inner.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = ProtoModels.FloatTensor("", [1000], big) });
        branch.Node.Add(inner);
        var g = new GraphProto { Name = "g" };
        g.Input.Add(ProtoModels.Tensor("c", TensorProto.Types.DataType.Bool));
        g.Output.Add(ProtoModels.Floats("y", 1000));
        g.Initializer.Add(ProtoModels.FloatTensor("w", [1000], big));
        g.Initializer.Add(ProtoModels.FloatTensor("small", [2], 1, 2));
        var node = ProtoModels.Node("If", ["c"], ["y"], "branch");
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch });
        g.Node.Add(node);
        var proto = ProtoModels.Model(g);
        var path = _temp.File("big.onnx");
        ProtoModels.Write(proto, path);

        Assert.Equal(proto, OnnxImporter.ReadProto(path));
        var model = OnnxImporter.Load(path);
        Assert.Equal(big, model.Graph.Constants.Single(c => c.Name == "w").Constant!.ToFloats());
    }

    [Fact]
    public void TypedFieldTensors_AreReadLikeRawOnes()
    {
        var proto = ProtoModels.AddRelu();
        var w = proto.Graph.Initializer[0];
        w.ClearRawData();
        w.FloatData.AddRange([1, -2, 3, -4, 5, -6]);
        var model = OnnxImporter.Import(proto);
        Assert.Equal([1f, -2, 3, -4, 5, -6], model.Graph.Constants.Single().Constant!.ToFloats());
    }

    [Fact]
    public void LargeFloatDataTensors_LoadLikeRawOnes_AndReadProtoKeepsThemAsWritten()
    {
        var big = Enumerable.Range(0, 1000).Select(i => i * 0.5f - 7).ToArray();
        var proto = ProtoModels.AddRelu();
        var w = ProtoModels.FloatTensor("big", [1000]);
        w.ClearRawData();
        w.FloatData.AddRange(big);
        proto.Graph.Initializer.Add(w);
        var wrongType = new TensorProto { Name = "ints_in_float_data", DataType = (int)TensorProto.Types.DataType.Int32 };
        wrongType.Dims.Add(1000);
        wrongType.FloatData.AddRange(big);
        var path = _temp.File("float_data.onnx");
        ProtoModels.Write(proto, path);

        Assert.Equal(proto, OnnxImporter.ReadProto(path));
        Assert.Equal(big, OnnxImporter.Load(path).Graph.Constants.Single(c => c.Name == "big").Constant!.ToFloats());

        // float_data in a tensor of another type is not taken for its data: the importer reports it as before.
        proto.Graph.Initializer.Add(wrongType);
        ProtoModels.Write(proto, path);
        var e = Assert.Throws<ArchNetException>(() => OnnxImporter.Load(path));
        Assert.Contains("ints_in_float_data", e.Message);
        Assert.Contains("needs 4000 bytes of data, the file has 0", e.Message);
    }

    [Fact]
    public void Export_IsDeterministic()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4);
        b.Output(b.Op("Relu", b.Op("MatMul", x, b.Random([4, 3]))));
        var model = b.Build();
        Assert.Equal(OnnxExporter.ToBytes(model), OnnxExporter.ToBytes(model));
        var reimported = OnnxImporter.Import(ModelProto.Parser.ParseFrom(OnnxExporter.ToBytes(model)));
        Assert.Equal(OnnxExporter.ToBytes(model), OnnxExporter.ToBytes(reimported));
    }

    [Fact]
    public void Save_WritesAFileThatLoadsBack_AndLeavesNoTemporaryFile()
    {
        var path = _temp.File("out.onnx");
        var model = OnnxImporter.Import(ProtoModels.AddRelu());
        OnnxExporter.Save(model, path);
        Assert.Equal(OnnxExporter.ToBytes(model), File.ReadAllBytes(path));
        Assert.Equal(["out.onnx"], Directory.GetFiles(_temp.Path).Select(Path.GetFileName));
        Assert.Equal("add_relu", OnnxImporter.Load(path).Graph.Name);
    }

    [Fact]
    public void FailedSave_LeavesTheTargetAsItWas_AndNoPartialFile()
    {
        var path = _temp.File("out.onnx");
        File.WriteAllText(path, "previous");
        var model = OnnxImporter.Import(ProtoModels.AddRelu());
        // An attribute the exporter cannot write makes the save fail half way through building the file.
        model.Graph.Nodes[0].SetAttr(new ArchNet.IR.Attribute("bad", AttributeKind.Undefined, "not a proto"));
        Assert.Throws<ArchNetException>(() => OnnxExporter.Save(model, path));
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal(["out.onnx"], Directory.GetFiles(_temp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void SaveIntoAMissingFolder_FailsWithAMessage()
    {
        var model = OnnxImporter.Import(ProtoModels.AddRelu());
        var e = Assert.Throws<ArchNetException>(() => OnnxExporter.Save(model, _temp.File("no/such/out.onnx")));
        Assert.Contains("does not exist", e.Message);
    }
}
