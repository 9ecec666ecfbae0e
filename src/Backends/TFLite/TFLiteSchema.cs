namespace ArchNet.Backends.TFLite;

/// <summary>
/// The subset of TFLite's schema (tensorflow/lite/schema/schema.fbs, schema version 3) this backend writes: enum values
/// and field ids, as facts. Field ids are flatbuffer slots (a union takes two: its type, then its value).
/// </summary>
internal static class TFLiteSchema
{
    public const string FileIdentifier = "TFL3";
    public const uint Version = 3;

    public static class TensorType
    {
        public const sbyte Float32 = 0, Int32 = 2, UInt8 = 3, Int16 = 7, Int8 = 9;
    }

    /// <summary>BuiltinOperator values.</summary>
    public static class Op
    {
        public const int Add = 0, AveragePool2D = 1, Concatenation = 2, Conv2D = 3, DepthwiseConv2D = 4, Dequantize = 6,
            FullyConnected = 9, Logistic = 14, MaxPool2D = 17, Mul = 18, Relu = 19, Relu6 = 21, Reshape = 22,
            Softmax = 25, Tanh = 28, Pad = 34, Transpose = 39, Mean = 40, Sub = 41, Quantize = 114;
    }

    /// <summary>BuiltinOptions union values.</summary>
    public static class Options
    {
        public const byte None = 0, Conv2D = 1, DepthwiseConv2D = 2, Pool2D = 5, FullyConnected = 8, Softmax = 9,
            Concatenation = 10, Add = 11, Reshape = 17, Mul = 21, Pad = 22, Transpose = 26, Reducer = 27, Sub = 28,
            Dequantize = 38, Quantize = 89;
    }

    public const sbyte PaddingSame = 0, PaddingValid = 1;

    // Field ids per table.
    public static class Model { public const int Version = 0, OperatorCodes = 1, Subgraphs = 2, Description = 3, Buffers = 4, Count = 5; }
    public static class OperatorCode { public const int DeprecatedBuiltinCode = 0, Version = 2, BuiltinCode = 3, Count = 4; }
    public static class SubGraph { public const int Tensors = 0, Inputs = 1, Outputs = 2, Operators = 3, Name = 4, Count = 5; }
    public static class Tensor { public const int Shape = 0, Type = 1, Buffer = 2, Name = 3, Quantization = 4, Count = 5; }
    public static class Quantization { public const int Scale = 2, ZeroPoint = 3, QuantizedDimension = 6, Count = 7; }
    public static class Buffer { public const int Data = 0, Count = 1; }
    public static class Operator { public const int OpcodeIndex = 0, Inputs = 1, Outputs = 2, BuiltinOptionsType = 3, BuiltinOptions = 4, Count = 5; }
    public static class Conv2DOptions { public const int Padding = 0, StrideW = 1, StrideH = 2, Activation = 3, DilationW = 4, DilationH = 5, Count = 6; }
    public static class DepthwiseOptions { public const int Padding = 0, StrideW = 1, StrideH = 2, DepthMultiplier = 3, Activation = 4, DilationW = 5, DilationH = 6, Count = 7; }
    public static class Pool2DOptions { public const int Padding = 0, StrideW = 1, StrideH = 2, FilterW = 3, FilterH = 4, Activation = 5, Count = 6; }
    public static class FullyConnectedOptions { public const int Activation = 0, WeightsFormat = 1, KeepNumDims = 2, Count = 4; }
    public static class SoftmaxOptions { public const int Beta = 0, Count = 1; }
    public static class ConcatenationOptions { public const int Axis = 0, Activation = 1, Count = 2; }
    public static class ReshapeOptions { public const int NewShape = 0, Count = 1; }
    public static class ReducerOptions { public const int KeepDims = 0, Count = 1; }
    public static class ActivationOptions { public const int Activation = 0, Count = 2; } // Add, Sub, Mul
}
