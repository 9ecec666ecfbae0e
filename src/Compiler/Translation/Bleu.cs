using System.Text.RegularExpressions;

namespace ArchNet.Compiler.Translation;

/// <summary>
/// Corpus BLEU-4 with brevity penalty (Papineni et al., 2002) over lowercased text tokenized as runs of word characters
/// and single other non-space characters, the tokenization translation cards state.
/// </summary>
public static partial class Bleu
{
    private const int MaxOrder = 4;

    [GeneratedRegex(@"\w+|[^\w\s]")]
    private static partial Regex TokenPattern();

    public static string[] Tokenize(string text) =>
        [.. TokenPattern().Matches(text.ToLowerInvariant()).Select(m => m.Value)];

    /// <summary>BLEU in points (0-100) of <paramref name="hypotheses"/> against one reference each.</summary>
    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references)
    {
        if (hypotheses.Count != references.Count)
            throw new ArgumentException($"{hypotheses.Count} hypotheses for {references.Count} references");
        var matches = new long[MaxOrder];
        var totals = new long[MaxOrder];
        long hypothesisLength = 0, referenceLength = 0;
        for (var s = 0; s < hypotheses.Count; s++)
        {
            var hyp = Tokenize(hypotheses[s]);
            var reference = Tokenize(references[s]);
            hypothesisLength += hyp.Length;
            referenceLength += reference.Length;
            for (var n = 1; n <= MaxOrder; n++)
            {
                var available = NGrams(reference, n);
                foreach (var (gram, count) in NGrams(hyp, n))
                    matches[n - 1] += Math.Min(count, available.GetValueOrDefault(gram));
                totals[n - 1] += Math.Max(0, hyp.Length - n + 1);
            }
        }
        if (matches.Any(m => m == 0)) return 0;
        var logPrecision = Enumerable.Range(0, MaxOrder).Average(i => Math.Log((double)matches[i] / totals[i]));
        var brevity = hypothesisLength >= referenceLength ? 1 : Math.Exp(1 - (double)referenceLength / hypothesisLength);
        return 100 * brevity * Math.Exp(logPrecision);
    }

    private static Dictionary<string, int> NGrams(string[] tokens, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i + n <= tokens.Length; i++)
        {
            var gram = string.Join('\u0001', tokens, i, n);
            counts[gram] = counts.GetValueOrDefault(gram) + 1;
        }
        return counts;
    }
}
