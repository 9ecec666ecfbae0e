using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using CapRounding = ArchNet.Capabilities.Rounding;
using CapRequantization = ArchNet.Capabilities.Requantization;

namespace ArchNet.Compiler;

/// <summary>Resolves a capability's numerics block and the user's bit widths into what the quantizer produces.</summary>
public static class NumericsChoice
{
    public static QuantizationTarget For(Numerics numerics, int weightBits, int activationBits)
    {
        var w = numerics.Weights;
        var a = numerics.Activations;
        if (!w.Bits.Allows(weightBits))
            throw new ArchNetException($"--wbits {weightBits}: the target's weights are {w.Bits} bits");
        if (!a.Bits.Allows(activationBits))
            throw new ArchNetException($"--abits {activationBits}: the target's activations are {a.Bits} bits");
        if (w.IsEmpty || a.IsEmpty)
            throw new ArchNetException("the target's numerics leave no common weight or activation format (an empty intersection?)");
        var weights = new IntegerFormat(weightBits,
            Signed: w.Signedness.Contains(Signedness.Signed),
            Symmetric: w.Symmetry.Contains(Symmetry.Symmetric),
            PowerOfTwoScales: w.PowerOfTwoScales);
        // Activations: the chip's first preference of signedness and symmetry (asymmetric uses the range best).
        var actSigned = a.Signedness[0] == Signedness.Signed;
        var actSymmetric = !a.Symmetry.Contains(Symmetry.Asymmetric);
        var activations = new IntegerFormat(activationBits, actSigned, actSymmetric, a.PowerOfTwoScales);
        var rounding = numerics.Rounding.IsEmpty ? RoundingMode.HalfToEven
            : numerics.Rounding.Contains(CapRounding.HalfToEven) && numerics.Rounding[0] == CapRounding.HalfToEven ? RoundingMode.HalfToEven
            : RoundingMode.HalfAwayFromZero;
        var requant = numerics.Requantization.IsEmpty || numerics.Requantization[0] == CapRequantization.Float
            ? RequantMode.FloatScale : RequantMode.MultiplierShift;
        var semantics = new QuantSemantics(rounding, requant, numerics.AccumulatorBits);
        int[] Allowed(BitWidths b) => b.IsAny ? [2, 3, 4, 5, 6, 7, 8, 16] : [.. b.Values];
        return new QuantizationTarget(weights, activations, w.Granularity.Contains(Granularity.PerChannel), semantics,
            Allowed(w.Bits), Allowed(a.Bits))
        {
            // Symmetric signed activations leave half their levels unused on a tensor that is never negative; where the
            // chip also takes unsigned ones, such tensors use those. (Asymmetric formats cover [0, max] with a zero point.)
            UnsignedWhereNonNegative = actSigned && actSymmetric && a.Signedness.Contains(Signedness.Unsigned),
        };
    }
}
