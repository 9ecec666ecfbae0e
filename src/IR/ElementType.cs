namespace ArchNet.IR;

/// <summary>Tensor element types. The numbering is ONNX's TensorProto.DataType, so the frontend maps 1:1.</summary>
public enum ElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
    Float8E8M0 = 24,
    UInt2 = 25,
    Int2 = 26,
}

public static class ElementTypes
{
    /// <summary>Bits one element occupies in ONNX's packed raw layout (0 for strings and undefined).</summary>
    public static int BitWidth(this ElementType t) => t switch
    {
        ElementType.Bool or ElementType.UInt8 or ElementType.Int8 => 8,
        ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
            or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0 => 8,
        ElementType.UInt16 or ElementType.Int16 or ElementType.Float16 or ElementType.BFloat16 => 16,
        ElementType.Float or ElementType.Int32 or ElementType.UInt32 => 32,
        ElementType.Double or ElementType.Int64 or ElementType.UInt64 or ElementType.Complex64 => 64,
        ElementType.Complex128 => 128,
        ElementType.UInt4 or ElementType.Int4 or ElementType.Float4E2M1 => 4,
        ElementType.UInt2 or ElementType.Int2 => 2,
        _ => 0,
    };

    /// <summary>Bytes needed to hold <paramref name="count"/> packed elements (sub-byte types pack low nibble first).</summary>
    public static long ByteCount(this ElementType t, long count) => (count * t.BitWidth() + 7) / 8;

    public static bool IsFloatingPoint(this ElementType t) => t is ElementType.Float or ElementType.Double
        or ElementType.Float16 or ElementType.BFloat16 or ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ
        or ElementType.Float8E5M2 or ElementType.Float8E5M2FNUZ or ElementType.Float4E2M1 or ElementType.Float8E8M0;

    public static bool IsSignedInteger(this ElementType t) => t is ElementType.Int8 or ElementType.Int16
        or ElementType.Int32 or ElementType.Int64 or ElementType.Int4 or ElementType.Int2;

    public static bool IsUnsignedInteger(this ElementType t) => t is ElementType.UInt8 or ElementType.UInt16
        or ElementType.UInt32 or ElementType.UInt64 or ElementType.UInt4 or ElementType.UInt2;

    public static bool IsInteger(this ElementType t) => t.IsSignedInteger() || t.IsUnsignedInteger();

    /// <summary>Short lowercase name used in dumps and reports (float32, int8, uint4, ...).</summary>
    public static string ShortName(this ElementType t) => t switch
    {
        ElementType.Float => "float32",
        ElementType.Double => "float64",
        ElementType.Float16 => "float16",
        ElementType.BFloat16 => "bfloat16",
        _ => t.ToString().ToLowerInvariant(),
    };

    public static bool TryParse(string name, out ElementType type)
    {
        foreach (var t in Enum.GetValues<ElementType>())
        {
            if (string.Equals(t.ShortName(), name, StringComparison.OrdinalIgnoreCase))
            {
                type = t;
                return true;
            }
        }
        type = ElementType.Undefined;
        return false;
    }
}
