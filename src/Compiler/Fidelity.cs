using ArchNet.IR;
namespace ArchNet.Compiler;

/// <summary>Running comparison of a reference tensor stream against a compiled one: cosine similarity, SQNR and the share
/// of reference values the compiled format cannot hold.</summary>
public sealed class Agreement
{
    private double _dot, _refEnergy, _outEnergy, _errorEnergy;
    private long _count, _outside;

    /// <param name="format">The compiled value's per-tensor integer format, if any: reference values more than half a step
    /// beyond the ends of what it represents are counted in <see cref="Clipped"/>.</param>
    /// <param name="offset">A constant the compiled values (and their format) carry on top of the reference's (an output
    /// raised for a chip's unsigned activations): it is taken off before comparing, since a large constant in both would
    /// make any two tensors look alike by cosine and SQNR.</param>
    public void Add(ReadOnlySpan<float> reference, ReadOnlySpan<float> compiled, QuantParams? format = null, double offset = 0)
    {
        if (reference.Length != compiled.Length)
            throw new ArgumentException($"compared tensors differ in size: {reference.Length} vs {compiled.Length}");
        var (lo, hi) = format is { Scales.Length: 1 } q
            ? ((q.QMin - q.ZeroPoints[0] - 0.5) * q.Scales[0], (q.QMax - q.ZeroPoints[0] + 0.5) * q.Scales[0])
            : (double.NegativeInfinity, double.PositiveInfinity);
        for (var i = 0; i < reference.Length; i++)
        {
            double r = reference[i], c = compiled[i] - offset;
            _dot += r * c;
            _refEnergy += r * r;
            _outEnergy += c * c;
            _errorEnergy += (r - c) * (r - c);
            if (r + offset < lo || r + offset > hi) _outside++;
        }
        _count += reference.Length;
    }

    /// <summary>How many values were compared.</summary>
    public long Count => _count;

    /// <summary>The share of reference values outside the format's range (0 when no format was given).</summary>
    public double Clipped => _count == 0 ? 0 : (double)_outside / _count;

    public double Cosine => _refEnergy == 0 && _outEnergy == 0 ? 1 : _dot / Math.Sqrt(_refEnergy * _outEnergy);

    /// <summary>Signal-to-quantization-noise ratio in dB; +inf for identical tensors (reported as 999).</summary>
    public double SqnrDb => _errorEnergy == 0 ? 999 : 10 * Math.Log10(_refEnergy / _errorEnergy);
}

/// <summary>Top-1 agreement between two classifiers' outputs, and accuracy against labels.</summary>
public sealed class Top1
{
    public int Items { get; private set; }
    public int Agree { get; private set; }
    public int ReferenceCorrect { get; private set; }
    public int CompiledCorrect { get; private set; }
    public int Labelled { get; private set; }

    /// <summary>Rows of <paramref name="classes"/> scores, one per item.</summary>
    public void Add(ReadOnlySpan<float> reference, ReadOnlySpan<float> compiled, int classes, ReadOnlySpan<long> labels)
    {
        var n = reference.Length / classes;
        for (var i = 0; i < n; i++)
        {
            var r = ArgMax(reference.Slice(i * classes, classes));
            var c = ArgMax(compiled.Slice(i * classes, classes));
            Items++;
            if (r == c) Agree++;
            if (i < labels.Length)
            {
                Labelled++;
                if (r == labels[i]) ReferenceCorrect++;
                if (c == labels[i]) CompiledCorrect++;
            }
        }
    }

    public double Agreement => Items == 0 ? 0 : (double)Agree / Items;
    public double ReferenceAccuracy => Labelled == 0 ? 0 : (double)ReferenceCorrect / Labelled;
    public double CompiledAccuracy => Labelled == 0 ? 0 : (double)CompiledCorrect / Labelled;

    /// <summary>The first index of the largest score (ties resolve to the lower class, as numpy's argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
        return best;
    }
}
