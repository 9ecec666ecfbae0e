using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using IrValueType = ArchNet.IR.ValueType;

namespace ArchNet.Frontend;

/// <summary>Conversions between ONNX TypeProto and the IR's value types.</summary>
public static class OnnxTypes
{
    /// <summary>The IR type; tensors become <see cref="TensorType"/>, everything else an <see cref="OpaqueType"/>
    /// holding the TypeProto so that export writes it back unchanged. Null when the proto says nothing.</summary>
    public static IrValueType? ToIr(TypeProto? type)
    {
        if (type is null) return null;
        switch (type.ValueCase)
        {
            case TypeProto.ValueOneofCase.TensorType:
                var t = type.TensorType;
                // Denotations (IMAGE, DATA_BATCH, ...) have no IR meaning and are dropped: passes need a tensor type.
                return new TensorType((ElementType)t.ElemType, t.Shape is null ? null : ToShape(t.Shape));
            case TypeProto.ValueOneofCase.None:
                return type.HasDenotation ? new OpaqueType(Describe(type), type) : null;
            default:
                return new OpaqueType(Describe(type), type);
        }
    }

    public static Shape ToShape(TensorShapeProto shape) => new(shape.Dim.Select(d =>
        d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => Dim.Of(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => Dim.Sym(d.DimParam),
            _ => Dim.Unknown,
        }));

    public static TypeProto? FromIr(IrValueType? type)
    {
        switch (type)
        {
            case null:
                return null;
            case OpaqueType { Payload: TypeProto proto }:
                return proto;
            case OpaqueType o:
                throw new ArchNetException($"type '{o.Description}' cannot be written to ONNX");
            case TensorType t:
                var tensor = new TypeProto.Types.Tensor();
                if (t.ElementType != ElementType.Undefined) tensor.ElemType = (int)t.ElementType;
                if (t.Shape is not null) tensor.Shape = FromShape(t.Shape);
                return new TypeProto { TensorType = tensor };
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "unknown IR value type");
        }
    }

    public static TensorShapeProto FromShape(Shape shape)
    {
        var s = new TensorShapeProto();
        foreach (var d in shape.Dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (d.Value is { } v) dim.DimValue = v;
            else if (d.Symbol is { } p) dim.DimParam = p;
            s.Dim.Add(dim);
        }
        return s;
    }

    /// <summary>A short description such as <c>seq(float32[?,3])</c> or <c>map(int64,float32)</c>.</summary>
    public static string Describe(TypeProto? type) => type?.ValueCase switch
    {
        null => "?",
        TypeProto.ValueOneofCase.TensorType => Elem(type.TensorType.ElemType) + Dims(type.TensorType.Shape),
        TypeProto.ValueOneofCase.SparseTensorType => "sparse(" + Elem(type.SparseTensorType.ElemType) + Dims(type.SparseTensorType.Shape) + ")",
        TypeProto.ValueOneofCase.SequenceType => "seq(" + Describe(type.SequenceType.ElemType) + ")",
        TypeProto.ValueOneofCase.OptionalType => "optional(" + Describe(type.OptionalType.ElemType) + ")",
        TypeProto.ValueOneofCase.MapType => "map(" + Elem(type.MapType.KeyType) + "," + Describe(type.MapType.ValueType) + ")",
        TypeProto.ValueOneofCase.OpaqueType => "opaque(" + type.OpaqueType.Domain + "." + type.OpaqueType.Name + ")",
        _ => "?",
    };

    private static string Elem(int elemType) => ((ElementType)elemType).ShortName();

    private static string Dims(TensorShapeProto? shape) => shape is null ? "[*]" : ToShape(shape).ToString();
}
