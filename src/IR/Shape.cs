using System.Collections.Immutable;

namespace ArchNet.IR;

/// <summary>One dimension: a known size, a named symbol (e.g. "batch"), or unknown.</summary>
public readonly record struct Dim(long? Value, string? Symbol)
{
    public static Dim Unknown => default;
    public static Dim Of(long value) => new(value, null);
    public static Dim Sym(string symbol) => new(null, symbol);
    public bool IsKnown => Value.HasValue;
    public static implicit operator Dim(long value) => Of(value);
    public override string ToString() => Value?.ToString() ?? Symbol ?? "?";
}

/// <summary>A tensor shape with possibly symbolic dimensions. Immutable, compared structurally.</summary>
public sealed class Shape : IEquatable<Shape>
{
    public ImmutableArray<Dim> Dims { get; }

    public Shape(IEnumerable<Dim> dims) => Dims = [.. dims];

    public static Shape Scalar { get; } = new([]);

    public static Shape Of(params long[] dims) => new(dims.Select(Dim.Of));

    public int Rank => Dims.Length;

    public Dim this[int axis] => Dims[axis];
    public Dim this[Index axis] => Dims[axis];

    public bool IsStatic => Dims.All(d => d.IsKnown);

    /// <summary>The dimensions as numbers, or null when any is symbolic or unknown.</summary>
    public long[]? ToArray() => IsStatic ? [.. Dims.Select(d => d.Value!.Value)] : null;

    /// <summary>Element count, or null when not static.</summary>
    public long? ElementCount => IsStatic ? Dims.Aggregate(1L, (acc, d) => acc * d.Value!.Value) : null;

    public bool Equals(Shape? other) => other is not null && Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => Equals(obj as Shape);
    public override int GetHashCode() => Dims.Aggregate(Rank, (h, d) => HashCode.Combine(h, d));
    public override string ToString() => "[" + string.Join(",", Dims) + "]";
}

/// <summary>The type of a value. Tensors are modeled; other ONNX types (sequence, map, optional,
/// sparse) are carried opaquely so that they survive a round trip and the audit can name them.</summary>
public abstract record ValueType;

public sealed record TensorType(ElementType ElementType, Shape? Shape) : ValueType
{
    public override string ToString() => ElementType.ShortName() + (Shape?.ToString() ?? "[*]");
}

/// <summary>A non-tensor type. <see cref="Payload"/> is owned by whoever created it (the frontend keeps its TypeProto there).</summary>
public sealed record OpaqueType(string Description, object? Payload) : ValueType
{
    public override string ToString() => Description;
}
