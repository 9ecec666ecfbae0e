using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// Integer softmax along the last axis (attention), as <see cref="IntegerArithmetic"/>'s summary defines it: an
/// exponential table indexed by the distance to the row's maximum, a Q16 probability by integer division, then the
/// usual requantization. The table depends only on the input scale, so a backend can emit it as constants.
/// </summary>
internal sealed partial class Kernels
{
    /// <summary>Fraction bits of the exponential table and of the probabilities.</summary>
    public const int SoftmaxFractionBits = 16;

    internal static bool SoftmaxAlongLastAxis(Node node) =>
        node.Input(0)?.Shape?.Rank is { } rank && node.GetInt("axis", -1) is var a && (a == -1 || a == rank - 1);

    /// <summary>T[d] = R_even(2^16 exp(-sx d)) for d = 0 .. qmax - qmin, computed in double on the host.</summary>
    public static long[] SoftmaxTable(QuantParams xq)
    {
        var table = new long[xq.QMax - xq.QMin + 1];
        for (var d = 0; d < table.Length; d++)
            table[d] = (long)Math.Round(Math.Exp(-(double)xq.Scales[0] * d) * (1 << SoftmaxFractionBits), MidpointRounding.ToEven);
        return table;
    }

    private Tensor Softmax(Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        var table = SoftmaxTable(xq);
        var m = MakeMultiplier(1f / (1 << SoftmaxFractionBits) / outQ.Scales[0]);
        var src = x.Ints!;
        var r = new int[src.Length];
        var width = x.Shape[^1];
        var e = new long[width];
        for (var row = 0; row < src.Length; row += width)
        {
            var max = int.MinValue;
            for (var i = 0; i < width; i++) max = Math.Max(max, src[row + i]);
            long sum = 0;
            for (var i = 0; i < width; i++) sum += e[i] = table[max - src[row + i]];
            // p = floor((e 2^16 + sum / 2) / sum): the probability in Q16 rounded half up, in [0, 2^16].
            for (var i = 0; i < width; i++)
                r[row + i] = Requantize(((e[i] << SoftmaxFractionBits) * 2 + sum) / (2 * sum), m, outQ);
        }
        return Tensor.FromInts(x.Shape, r, outQ);
    }
}
