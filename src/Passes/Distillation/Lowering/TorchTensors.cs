using ArchNet.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Lowering;

/// <summary>Conversions between IR constant data and torch tensors (CPU, contiguous).</summary>
public static class TorchTensors
{
    public static ScalarType ToScalarType(ElementType type) => type switch
    {
        ElementType.Float => ScalarType.Float32,
        ElementType.Double => ScalarType.Float64,
        ElementType.Float16 => ScalarType.Float16,
        ElementType.BFloat16 => ScalarType.BFloat16,
        ElementType.Int8 => ScalarType.Int8,
        ElementType.UInt8 => ScalarType.Byte,
        ElementType.Int16 => ScalarType.Int16,
        ElementType.Int32 => ScalarType.Int32,
        ElementType.Int64 => ScalarType.Int64,
        ElementType.Bool => ScalarType.Bool,
        _ => throw new ArchNetException($"element type {type.ShortName()} has no torch equivalent"),
    };

    public static ElementType ToElementType(ScalarType type) => type switch
    {
        ScalarType.Float32 => ElementType.Float,
        ScalarType.Float64 => ElementType.Double,
        ScalarType.Float16 => ElementType.Float16,
        ScalarType.BFloat16 => ElementType.BFloat16,
        ScalarType.Int8 => ElementType.Int8,
        ScalarType.Byte => ElementType.UInt8,
        ScalarType.Int16 => ElementType.Int16,
        ScalarType.Int32 => ElementType.Int32,
        ScalarType.Int64 => ElementType.Int64,
        ScalarType.Bool => ElementType.Bool,
        _ => throw new ArchNetException($"torch type {type} has no IR equivalent"),
    };

    /// <summary>A new torch tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromData(TensorData data)
    {
        long[] dims = [.. data.Dims];
        return data.ElementType switch
        {
            ElementType.Float => tensor(data.Span<float>().ToArray(), dims),
            ElementType.Double => tensor(data.Span<double>().ToArray(), dims),
            ElementType.Int64 => tensor(data.Span<long>().ToArray(), dims),
            ElementType.Int32 => tensor(data.Span<int>().ToArray(), dims),
            ElementType.Int16 => tensor(data.Span<short>().ToArray(), dims),
            ElementType.Int8 => tensor(data.Span<sbyte>().ToArray(), dims),
            ElementType.UInt8 => tensor(data.Span<byte>().ToArray(), dims),
            ElementType.Bool => tensor(data.Span<byte>().ToArray().Select(b => b != 0).ToArray(), dims),
            ElementType.Float16 or ElementType.BFloat16 =>
                tensor(data.ToFloats(), dims).to_type(ToScalarType(data.ElementType)),
            _ => throw new ArchNetException($"constant of {data.ElementType.ShortName()} cannot be lowered to torch"),
        };
    }

    /// <summary>The tensor's values as IR constant data (detached copy).</summary>
    public static TensorData ToData(Tensor t)
    {
        using var scope = NewDisposeScope();
        var c = t.detach().cpu().contiguous();
        long[] dims = c.shape;
        return c.dtype switch
        {
            ScalarType.Float32 => TensorData.Create(ElementType.Float, dims, c.data<float>().ToArray()),
            ScalarType.Float64 => TensorData.Create(ElementType.Double, dims, c.data<double>().ToArray()),
            ScalarType.Int64 => TensorData.Create(ElementType.Int64, dims, c.data<long>().ToArray()),
            ScalarType.Int32 => TensorData.Create(ElementType.Int32, dims, c.data<int>().ToArray()),
            ScalarType.Int16 => TensorData.Create(ElementType.Int16, dims, c.data<short>().ToArray()),
            ScalarType.Int8 => TensorData.Create(ElementType.Int8, dims, c.data<sbyte>().ToArray()),
            ScalarType.Byte => TensorData.Create(ElementType.UInt8, dims, c.data<byte>().ToArray()),
            ScalarType.Bool => TensorData.Create(ElementType.Bool, dims, c.data<bool>().ToArray().Select(b => (byte)(b ? 1 : 0)).ToArray()),
            ScalarType.Float16 => TensorData.Create(ElementType.Float16, dims, c.data<Half>().ToArray()),
            _ => throw new ArchNetException($"torch tensor of {c.dtype} cannot be converted to IR data"),
        };
    }

    /// <summary>
    /// A 4-d tensor in channels-last memory order (NHWC) with its logical NCHW shape; unchanged when it already is one.
    /// Values and shape are the same, only the strides differ.
    /// </summary>
    public static Tensor ChannelsLast(Tensor t) =>
        t.dim() != 4 || IsChannelsLast(t) ? t : t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>True when the 4-d tensor's memory is dense in NHWC order.</summary>
    public static bool IsChannelsLast(Tensor t)
    {
        if (t.dim() != 4) return false;
        using var view = t.permute(0, 2, 3, 1);
        return view.is_contiguous();
    }

    /// <summary>Small integer tensors (shapes, axes, indices read by shape logic) as numbers.</summary>
    public static long[] ToInt64s(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().to_type(ScalarType.Int64).contiguous().data<long>().ToArray();
    }

    public static double ToScalar(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().to_type(ScalarType.Float64).reshape(-1)[0].item<double>();
    }
}
