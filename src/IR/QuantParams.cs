using System.Collections.Immutable;

namespace ArchNet.IR;

/// <summary>
/// How a value is represented as integers: real = (q - zeroPoint) * scale, q in [QMin, QMax].
/// Axis is the channel axis for per-channel parameters, or null for per-tensor.
/// </summary>
public sealed record QuantParams(
    int Bits,
    bool Signed,
    ImmutableArray<float> Scales,
    ImmutableArray<long> ZeroPoints,
    int? Axis = null)
{
    public long QMin => Signed ? -(1L << (Bits - 1)) : 0;
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;
    public bool PerChannel => Axis.HasValue;

    public static QuantParams PerTensor(int bits, bool signed, float scale, long zeroPoint = 0) =>
        new(bits, signed, [scale], [zeroPoint]);

    public override string ToString() =>
        $"{(Signed ? "i" : "u")}{Bits} scale={(Scales.Length == 1 ? Scales[0].ToString("G6") : $"[{Scales.Length}]")}" +
        $" zp={(ZeroPoints.Length == 1 ? ZeroPoints[0].ToString() : $"[{ZeroPoints.Length}]")}" +
        (Axis is { } a ? $" axis={a}" : "");
}
