using System.Collections.Immutable;
using System.Globalization;
using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>
/// A node breaks a constraint: which one (its id), the message for the user, what the node has and what the
/// chip allows. Passes, backends and the audit all show this same record.
/// </summary>
public sealed record Violation(string ConstraintId, string Message, string Actual, string Limit)
{
    /// <summary>The rule is about element types (which quantization chooses), not the graph's structure: legalization,
    /// which works on the float model, leaves such rules to quantization.</summary>
    public bool AboutElementTypes { get; init; }

    public override string ToString() => $"{Message}: found {Actual}, limit {Limit} [{ConstraintId}]";
}

/// <summary>
/// One rule a node must satisfy, as a small self-describing object (after Arm Vela's constraint functions): its
/// <see cref="Describe"/> text is both the user's message and a line of the generated supported-operators
/// document, so the document and the checker cannot disagree.
/// </summary>
public abstract record Constraint
{
    /// <summary>Stable id, e.g. <c>Conv.oneOf.kernel_shape</c>; reports and remedies refer to it.</summary>
    public required string Id { get; init; }

    /// <summary>The vendor's wording from the file, used instead of <see cref="Describe"/> when given.</summary>
    public string? CustomMessage { get; init; }

    /// <summary>Op types a chip-wide constraint does not apply to (Vela's bracketed exceptions); empty for op constraints.</summary>
    public ImmutableArray<string> ExceptOps { get; init; } = [];

    /// <summary>The rule in words, generated from its parameters (the message template).</summary>
    public abstract string Describe();

    public string Message => CustomMessage ?? Describe();

    /// <summary>The line in the supported-operators document: the message, and the exact rule when the vendor worded it.</summary>
    public string DocumentLine => CustomMessage is null ? Describe() : $"{CustomMessage} (rule: {Describe()})";

    /// <summary>Null when <paramref name="node"/> satisfies the rule.</summary>
    public abstract Violation? Check(Node node, Numerics numerics);

    /// <summary>Constraints with the same key restrict the same thing and can be intersected into one.</summary>
    public abstract string MergeKey { get; }

    /// <summary>The rule both this and <paramref name="other"/> (same <see cref="MergeKey"/>) express, or null to keep both.</summary>
    public virtual Constraint? Intersect(Constraint other) => null;

    /// <summary>True for a rule on element types (<see cref="Violation.AboutElementTypes"/>).</summary>
    public virtual bool AboutElementTypes => false;

    protected Violation Fail(string actual, string limit) => new(Id, Message, actual, limit) { AboutElementTypes = AboutElementTypes };

    protected static string Num(double v) => QuantityValue.Format(v);
}

/// <summary>An inclusive integer-or-real interval; either end may be open.</summary>
public sealed record Interval(double? Min, double? Max)
{
    public bool Contains(double v) => (Min is not { } lo || v >= lo) && (Max is not { } hi || v <= hi);
    public bool IsEmpty => Min is { } lo && Max is { } hi && lo > hi;

    public Interval Intersect(Interval o) => new(
        Min is { } a && o.Min is { } b ? Math.Max(a, b) : Min ?? o.Min,
        Max is { } c && o.Max is { } d ? Math.Min(c, d) : Max ?? o.Max);

    public override string ToString() => (Min, Max) switch
    {
        ({ } lo, { } hi) when lo == hi => "= " + QuantityValue.Format(lo),
        ({ } lo, { } hi) => $"in [{QuantityValue.Format(lo)}, {QuantityValue.Format(hi)}]",
        ({ } lo, null) => ">= " + QuantityValue.Format(lo),
        (null, { } hi) => "<= " + QuantityValue.Format(hi),
        _ => "any value",
    };
}

/// <summary>Allowed element types of an input or output (or all of them). A float value not yet quantized passes when
/// the op accepts an integer type the chip's quantization produces: quantization will map it; once quantized the check is exact.</summary>
public sealed record ElementTypesConstraint(TensorRef Tensor, ImmutableArray<ElementType> Allowed) : Constraint
{
    public override bool AboutElementTypes => true;

    public override string Describe() => $"{Tensor} element type must be one of {{{string.Join(", ", Allowed.Select(t => t.ShortName()))}}}";

    public override Violation? Check(Node node, Numerics numerics)
    {
        foreach (var (name, value) in Tensor.Select(node))
        {
            var t = value.ElementType;
            if (t == ElementType.Undefined) continue; // untyped (opaque or unknown) values are judged by other rules
            if (value.Quant is { } q)
            {
                var signed = q.Signed;
                if (Allowed.Any(a => a.IsInteger() && a.BitWidth() == q.Bits && a.IsSignedInteger() == signed)) continue;
                return Fail($"{name} {(signed ? "int" : "uint")}{q.Bits} (quantized)", LimitText);
            }
            if (Allowed.Contains(t)) continue;
            if (t.IsFloatingPoint() && Allowed.Any(numerics.Quantizes)) continue;
            // Say when the float cannot become any allowed integer: usually intersected chips with no common numerics.
            var why = t.IsFloatingPoint() && Allowed.Any(a => a.IsInteger()) ? " (the numerics quantize to none of the allowed types)" : "";
            return Fail($"{name} {t.ShortName()}{why}", LimitText);
        }
        return null;
    }

    private string LimitText => "{" + string.Join(", ", Allowed.Select(t => t.ShortName())) + "}";

    public override string MergeKey => "types:" + Tensor;

    public override Constraint? Intersect(Constraint other) =>
        other is ElementTypesConstraint o ? this with { Allowed = [.. Allowed.Intersect(o.Allowed)], CustomMessage = null } : null;
}

/// <summary>An attribute (or derived quantity) must take one of a set of values. Numbers in the set apply to each element
/// of a list attribute (strides each 1 or 2); lists in the set must match the whole value (kernel_shape [3,3]).</summary>
public sealed record OneOfConstraint(Quantity Subject, ImmutableArray<AllowedValue> Values) : Constraint
{
    private bool WholeValue => Values.Any(v => v.List is not null);

    public override string Describe() =>
        WholeValue ? $"{Subject} must be one of {SetText}" : $"{Subject} must be one of {SetText}" + (Subject is AttributeQuantity { Element: null } ? " (each element)" : "");

    private string SetText => "{" + string.Join(", ", Values) + "}";

    public override Violation? Check(Node node, Numerics numerics)
    {
        var v = Subject.Evaluate(node);
        if (!v.IsKnown) return Fail(v.ToString(), SetText);
        if (v.Text is { } text)
            return Values.Any(a => a.Text == text) ? null : Fail($"{Subject} {v}", SetText);
        if (WholeValue)
            return Values.Any(a => a.List is { } l && l.SequenceEqual(v.Numbers)) ? null : Fail($"{Subject} {v}", SetText);
        foreach (var n in v.Numbers)
            if (!Values.Any(a => a.Number == n)) return Fail($"{Subject} {v}", SetText);
        return null;
    }

    public override string MergeKey => "oneOf:" + Subject;

    public override Constraint? Intersect(Constraint other) =>
        other is OneOfConstraint o && o.WholeValue == WholeValue
            ? this with { Values = [.. Values.Where(o.Values.Contains)], CustomMessage = null }
            : null;
}

/// <summary>One member of a OneOf set: a number, a string, or a whole list.</summary>
public sealed record AllowedValue(double? Number, string? Text, ImmutableArray<double>? List)
{
    public bool Equals(AllowedValue? other) => other is not null && Number == other.Number && Text == other.Text
        && (List is null ? other.List is null : other.List is { } l && List.Value.SequenceEqual(l));
    public override int GetHashCode() => HashCode.Combine(Number, Text, List?.Length);
    public override string ToString() => Number is { } n ? QuantityValue.Format(n) : Text is { } t ? "\"" + t + "\"" : "[" + string.Join(",", List!.Value.Select(QuantityValue.Format)) + "]";
}

/// <summary>An attribute (or derived quantity such as product(kernel_shape)) must lie in a range; each element of a list.</summary>
public sealed record AttributeRangeConstraint(Quantity Subject, Interval Range) : Constraint
{
    public override string Describe() => $"{Subject} must be {Range}" + (Subject is AttributeQuantity { Element: null } ? " (each element)" : "");

    public override Violation? Check(Node node, Numerics numerics)
    {
        var v = Subject.Evaluate(node);
        if (!v.IsKnown || v.Text is not null) return Fail(v.ToString(), Range.ToString());
        return v.Numbers.All(Range.Contains) ? null : Fail($"{Subject} {v}", Range.ToString());
    }

    public override string MergeKey => "range:" + Subject;

    public override Constraint? Intersect(Constraint other) =>
        other is AttributeRangeConstraint o ? this with { Range = Range.Intersect(o.Range), CustomMessage = null } : null;
}

/// <summary>A tensor dimension must lie in a range, e.g. input channels <c>input[0].dim[1]</c> at most 512. A tensor
/// whose known rank has no such axis passes (nothing to limit); an unknown or symbolic dimension fails.</summary>
public sealed record DimensionRangeConstraint(DimQuantity Dim, Interval Range) : Constraint
{
    public override string Describe() => $"{Dim} must be {Range}";

    public override Violation? Check(Node node, Numerics numerics)
    {
        if (!Dim.Exists(node)) return null;
        var v = Dim.Evaluate(node);
        if (!v.IsKnown) return Fail(v.ToString(), Range.ToString());
        return Range.Contains(v.Numbers[0]) ? null : Fail($"{Dim} {v}", Range.ToString());
    }

    public override string MergeKey => "dim:" + Dim;

    public override Constraint? Intersect(Constraint other) =>
        other is DimensionRangeConstraint o ? this with { Range = Range.Intersect(o.Range), CustomMessage = null } : null;
}

/// <summary>The rank of an input or output (or of all of them) must lie in a range.</summary>
public sealed record RankConstraint(TensorRef Tensor, Interval Range) : Constraint
{
    public override string Describe() => $"{Tensor} rank must be {Range}";

    public override Violation? Check(Node node, Numerics numerics)
    {
        foreach (var (name, value) in Tensor.Select(node))
        {
            if (value.TensorType is null) continue;
            if (value.Shape is not { } s) return Fail($"{name} rank unknown", Range.ToString());
            if (!Range.Contains(s.Rank)) return Fail($"{name} rank {s.Rank}", Range.ToString());
        }
        return null;
    }

    public override string MergeKey => "rank:" + Tensor;

    public override Constraint? Intersect(Constraint other) =>
        other is RankConstraint o ? this with { Range = Range.Intersect(o.Range), CustomMessage = null } : null;
}

public enum RelationOperator { Less, LessOrEqual, Equal, NotEqual, GreaterOrEqual, Greater }

/// <summary>
/// A relation between two quantities, element by element, written as text: <c>pads &lt;= kernel_shape - 1</c>,
/// <c>strides &lt;= kernel_shape</c>. The right side may carry <c>+ n</c>, <c>- n</c> or <c>* n</c>. When the sides have
/// different lengths the shorter repeats (pads [b0, b1, e0, e1] pair with kernel [k0, k1, k0, k1]).
/// </summary>
public sealed record RelationConstraint(Quantity Left, RelationOperator Operator, Quantity Right, char? ArithmeticOp, double Operand) : Constraint
{
    public string Expression => $"{Left} {OpText(Operator)} {Right}" + (ArithmeticOp is { } a ? $" {a} {Num(Operand)}" : "");

    public override string Describe() => $"{Expression} must hold";

    public static string OpText(RelationOperator op) => op switch
    {
        RelationOperator.Less => "<",
        RelationOperator.LessOrEqual => "<=",
        RelationOperator.Equal => "==",
        RelationOperator.NotEqual => "!=",
        RelationOperator.GreaterOrEqual => ">=",
        _ => ">",
    };

    public override Violation? Check(Node node, Numerics numerics)
    {
        var l = Left.Evaluate(node);
        var r = Right.Evaluate(node);
        if (!l.IsKnown || l.Text is not null) return Fail($"{Left} {l}", Expression);
        if (!r.IsKnown || r.Text is not null) return Fail($"{Right} {r}", Expression);
        if (l.Numbers.IsEmpty || r.Numbers.IsEmpty) return null;
        var n = Math.Max(l.Numbers.Length, r.Numbers.Length);
        var limits = new double[n];
        for (var i = 0; i < n; i++)
        {
            var rv = r.Numbers[i % r.Numbers.Length];
            limits[i] = ArithmeticOp switch { '+' => rv + Operand, '-' => rv - Operand, '*' => rv * Operand, _ => rv };
        }
        for (var i = 0; i < n; i++)
        {
            var lv = l.Numbers[i % l.Numbers.Length];
            var ok = Operator switch
            {
                RelationOperator.Less => lv < limits[i],
                RelationOperator.LessOrEqual => lv <= limits[i],
                RelationOperator.Equal => lv == limits[i],
                RelationOperator.NotEqual => lv != limits[i],
                RelationOperator.GreaterOrEqual => lv >= limits[i],
                _ => lv > limits[i],
            };
            if (!ok)
            {
                var limitText = limits.Length == 1 ? Num(limits[0]) : "[" + string.Join(",", limits.Select(Num)) + "]";
                return Fail($"{Left} {l}", $"{OpText(Operator)} {limitText} ({Right}{(ArithmeticOp is { } a ? $" {a} {Num(Operand)}" : "")})");
            }
        }
        return null;
    }

    public override string MergeKey => "relation:" + Expression;

    public override Constraint? Intersect(Constraint other) => other is RelationConstraint o && o.Expression == Expression ? this : null;
}

/// <summary>An input must be a constant (weights known at compile time), e.g. the weight of Conv or of a fully connected MatMul.</summary>
public sealed record ConstantInputConstraint(int Input) : Constraint
{
    public override string Describe() => $"input[{Input}] (weights) must be constant";

    public override Violation? Check(Node node, Numerics numerics)
    {
        var v = node.Input(Input);
        if (v is null || v.IsAbsent) return null;
        if (v.IsConstant || v.Producer?.OpType == "Constant") return null;
        return Fail($"input[{Input}] '{v.Name}' computed at run time" + (v.Producer is { } p ? $" by {p.OpType}" : " (a graph input)"), "a constant");
    }

    public override string MergeKey => "constant:" + Input;

    public override Constraint? Intersect(Constraint other) => other is ConstantInputConstraint ? this : null;
}

/// <summary>
/// Chip-wide: every tensor a node reads or writes at run time (constants excluded) must fit in on-chip memory.
/// Size is elements times the bits it will have on the chip (floats the chip does not run count at its narrowest activation width).
/// </summary>
public sealed record TensorSizeConstraint(long MaxBytes) : Constraint
{
    public override string Describe() => $"each run-time tensor must be at most {Bytes(MaxBytes)}";

    public override Violation? Check(Node node, Numerics numerics)
    {
        var values = node.Inputs.OfType<Value>().Where(v => !v.IsConstant && v.Producer?.OpType != "Constant")
            .Select((v, _) => v).Concat(node.Outputs).Where(v => !v.IsAbsent && v.TensorType is not null);
        foreach (var v in values)
        {
            var name = node.Inputs.Contains(v) ? $"input[{IndexOf(node.Inputs, v)}]" : $"output[{IndexOf(node.Outputs, v)}]";
            if (v.Shape?.ElementCount is not { } count) return Fail($"{name} size unknown (shape not static)", Bytes(MaxBytes));
            var bytes = (count * numerics.StorageBits(v.ElementType, v.Quant) + 7) / 8;
            if (bytes > MaxBytes) return Fail($"{name} {Bytes(bytes)}", Bytes(MaxBytes));
        }
        return null;
    }

    private static int IndexOf<T>(IReadOnlyList<T> list, T item)
    {
        for (var i = 0; i < list.Count; i++)
            if (EqualityComparer<T>.Default.Equals(list[i], item)) return i;
        return -1;
    }

    public static string Bytes(long b) => b.ToString("N0", CultureInfo.InvariantCulture) + " bytes";

    public override string MergeKey => "tensorBytes";

    public override Constraint? Intersect(Constraint other) =>
        other is TensorSizeConstraint o ? this with { MaxBytes = Math.Min(MaxBytes, o.MaxBytes), CustomMessage = null } : null;
}
