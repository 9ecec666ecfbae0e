using ArchNet.IR;
using Microsoft.ML.Tokenizers;

namespace ArchNet.Compiler.Translation;

/// <summary>A test sentence: its source, its human reference and, where the file has it, a model's translation.</summary>
public sealed record TestPair(string Source, string Reference, string? Translation)
{
    /// <summary>
    /// Reads "source TAB reference [TAB translation]" lines. gettext strings may hold tabs themselves, as many in a
    /// msgstr as in its msgid, while a model's translation holds none (SentencePiece turns tabs into spaces): with an
    /// odd number of fields the last is the translation, and the rest split evenly into source and reference.
    /// </summary>
    public static IReadOnlyList<TestPair> ReadTsv(string path) =>
        [.. File.ReadAllLines(path).Select((line, i) =>
        {
            var fields = line.Split('\t');
            var translation = fields.Length % 2 == 1 ? fields[^1] : null;
            var half = fields.Length / 2;
            return fields.Length >= 2
                ? new TestPair(string.Join('\t', fields[..half]), string.Join('\t', fields[half..(2 * half)]), translation)
                : throw new ArchNetException($"{path}:{i + 1}: one field; expected source, reference and optionally a translation, tab-separated");
        })];
}

/// <summary>One model's translations of a test set and their score against the references.</summary>
public sealed record TranslationScore(double Bleu, double ExactMatch, IReadOnlyList<string> Translations, int[][] Tokens);

/// <summary>
/// Scores translations: detokenizes ids with the model's SentencePiece tokenizer (Microsoft.ML.Tokenizers), then corpus
/// BLEU and the share of sentences equal to their reference. References are read only here, to score.
/// </summary>
public sealed class TranslationScorer(Tokenizer tokenizer, IReadOnlyList<string> references)
{
    public static TranslationScorer FromFiles(string sentencePieceModel, string referencesTsv)
    {
        Tokenizer tokenizer;
        try
        {
            using var stream = File.OpenRead(sentencePieceModel);
            tokenizer = SentencePieceTokenizer.Create(stream, false, false);
        }
        catch (Exception e) when (e is not IOException)
        {
            throw new ArchNetException($"'{sentencePieceModel}' is not a SentencePiece model: {e.Message}");
        }
        return new TranslationScorer(tokenizer, [.. TestPair.ReadTsv(referencesTsv).Select(p => p.Reference)]);
    }

    public IReadOnlyList<string> References => references;

    /// <summary>The text of <paramref name="ids"/>. A translation that starts with a lone word-boundary piece would begin
    /// with a space that SentencePiece's own decoder drops; it is dropped here too.</summary>
    public string Detokenize(IEnumerable<int> ids) => (tokenizer.Decode(ids) ?? "").TrimStart(' ');

    public TranslationScore Score(int[][] tokens)
    {
        if (tokens.Length > references.Count)
            throw new ArchNetException($"{tokens.Length} sources but only {references.Count} references");
        var translations = tokens.Select(Detokenize).ToList();
        var refs = references.Take(tokens.Length).ToList();
        var exact = translations.Zip(refs).Count(p => p.First.Trim() == p.Second.Trim());
        return new TranslationScore(Bleu.Corpus(translations, refs), tokens.Length == 0 ? 0 : (double)exact / tokens.Length, translations, tokens);
    }

    /// <summary>
    /// Share of token positions where two decodings agree, each sentence counted to the end of the longer one (its EOS
    /// included), so a translation that stops early disagrees at every position it misses.
    /// </summary>
    public static double TokenAgreement(int[][] a, int[][] b)
    {
        long same = 0, total = 0;
        for (var s = 0; s < Math.Min(a.Length, b.Length); s++)
        {
            var length = Math.Max(a[s].Length, b[s].Length) + 1;
            total += length;
            for (var i = 0; i < length; i++)
                if (At(a[s], i) == At(b[s], i)) same++;
        }
        return total == 0 ? 1 : (double)same / total;

        static int At(int[] t, int i) => i < t.Length ? t[i] : i == t.Length ? -1 : -2;
    }
}
