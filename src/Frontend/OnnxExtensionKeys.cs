using ArchNet.Frontend.Onnx;
using ArchNet.IR;

namespace ArchNet.Frontend;

/// <summary>
/// Keys under which the frontend parks, in <see cref="Model.Extensions"/> and <see cref="Graph.Extensions"/>,
/// the parts of an ONNX file that have no IR meaning but must survive import followed by export.
/// </summary>
public static class OnnxExtensionKeys
{
    /// <summary>Model: <c>List&lt;FunctionProto&gt;</c>, the model-local functions.</summary>
    public const string Functions = "onnx.functions";

    /// <summary>Model: <c>List&lt;TrainingInfoProto&gt;</c>.</summary>
    public const string TrainingInfo = "onnx.training_info";

    /// <summary>Model: <c>List&lt;DeviceConfigurationProto&gt;</c> (multi-device configurations).</summary>
    public const string DeviceConfigurations = "onnx.configuration";

    /// <summary>Graph: <c>List&lt;TensorAnnotation&gt;</c> (quantization annotations).</summary>
    public const string QuantizationAnnotations = "onnx.quantization_annotation";

    /// <summary>Graph: <c>List&lt;KeyValuePair&lt;string,string&gt;&gt;</c>, the graph's metadata_props.</summary>
    public const string GraphMetadata = "onnx.graph_metadata";

    /// <summary>Graph: <see cref="ConstantNodeOrigins"/>: constants that were Constant nodes in the file.</summary>
    public const string ConstantNodes = "onnx.constant_nodes";

    /// <summary>Graph: <see cref="SparseInitializerOrigins"/>: constants that were sparse initializers.</summary>
    public const string SparseInitializers = "onnx.sparse_initializers";
}

/// <summary>How a constant was written as a Constant node: enough to write the same node back.</summary>
public sealed record ConstantNodeOrigin(string NodeName, string AttributeName, string? DocString, TensorData Data);

/// <summary>Constants imported from Constant nodes, by value. Export writes these back as Constant nodes
/// (when the value still holds the same data) so that the file keeps its shape.</summary>
public sealed class ConstantNodeOrigins : Dictionary<Value, ConstantNodeOrigin>;

/// <summary>A sparse initializer densified on import, with the original message to write back unchanged.</summary>
public sealed record SparseInitializerOrigin(SparseTensorProto Proto, TensorData Data);

public sealed class SparseInitializerOrigins : Dictionary<Value, SparseInitializerOrigin>;
