using System.Text.Json.Serialization;
using ArchNet.Backends.Emulation;
using ArchNet.Backends.Reference;
using ArchNet.Frontend.Data;
using ArchNet.IR;

namespace ArchNet.Compiler.Translation;

/// <summary>
/// What <c>--seq2seq tokenizer=FILE,refs=FILE[,bos=2,eos=3]</c> asks: score a teacher-forcing translation model by
/// greedy decoding of the evaluation sources, original (ONNX Runtime) and compiled (integer emulator).
/// </summary>
public sealed record Seq2SeqOptions(string Tokenizer, string References, SpecialTokens Tokens)
{
    public const string Syntax = "tokenizer=SENTENCEPIECE.model,refs=TEST.tsv[,bos=ID,eos=ID,pad=ID]";

    public static Seq2SeqOptions Parse(string text)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw new ArchNetException($"--seq2seq: '{part}' is not key=value ({Syntax})");
            pairs[part[..eq].Trim()] = part[(eq + 1)..].Trim();
        }
        foreach (var key in pairs.Keys.Where(k => k is not ("tokenizer" or "refs" or "bos" or "eos" or "pad")))
            throw new ArchNetException($"--seq2seq: unknown key '{key}' ({Syntax})");
        string Required(string key) => pairs.TryGetValue(key, out var v) ? v : throw new ArchNetException($"--seq2seq: '{key}=' is required ({Syntax})");
        int Id(string key, int fallback) => !pairs.TryGetValue(key, out var v) ? fallback
            : int.TryParse(v, out var id) && id >= 0 ? id : throw new ArchNetException($"--seq2seq: {key}={v} is not a token id");
        var defaults = new SpecialTokens();
        return new Seq2SeqOptions(Required("tokenizer"), Required("refs"), new SpecialTokens(Id("pad", defaults.Pad), Id("bos", defaults.Bos), Id("eos", defaults.Eos)));
    }
}

/// <summary>A translation model's score before and after compiling, on the same sources and references.</summary>
public sealed record TranslationFigures(
    [property: JsonPropertyName("sentences")] int Sentences,
    [property: JsonPropertyName("bleu_original")] double BleuOriginal,
    [property: JsonPropertyName("bleu_compiled")] double BleuCompiled,
    [property: JsonPropertyName("exact_match_original")] double ExactMatchOriginal,
    [property: JsonPropertyName("exact_match_compiled")] double ExactMatchCompiled,
    [property: JsonPropertyName("token_agreement")] double TokenAgreement);

/// <summary>The compile's translation scoring: decodes the evaluation sources with the original and the compiled model.</summary>
public static class TranslationEvaluation
{
    /// <param name="originalModel">The original model's ONNX bytes.</param>
    public static TranslationFigures Run(byte[] originalModel, Model compiled, Dataset eval, Seq2SeqOptions options, IDiagnostics diagnostics,
        int threads = 1)
    {
        var names = new TranslationInputs();
        foreach (var name in new[] { names.SourceIds, names.SourceMask, names.TargetIds })
            if (!eval.Arrays.ContainsKey(name))
                throw new ArchNetException($"--seq2seq: the evaluation data has no array '{name}' (a translation model takes {names.SourceIds}, {names.SourceMask}, {names.TargetIds})");
        var scorer = TranslationScorer.FromFiles(options.Tokenizer, options.References);
        var sourceIds = DataLoader.Take(eval.Arrays[names.SourceIds], eval.Count).ToInt64s();
        var sourceMask = DataLoader.Take(eval.Arrays[names.SourceMask], eval.Count).ToFloats();
        using var runner = new ReferenceRunner(originalModel, threads: threads);
        var original = new GreedyDecoder(new OrtTeacherForcing(runner, names), options.Tokens)
            .Decode(sourceIds, sourceMask, eval.Count, diagnostics, "translate (original, ONNX Runtime)");
        var emulated = new GreedyDecoder(new EmulatorTeacherForcing(new Emulator(compiled, EmulatorMode.Integer), names), options.Tokens)
            .Decode(sourceIds, sourceMask, eval.Count, diagnostics, "translate (compiled, emulator)");
        var before = scorer.Score(original);
        var after = scorer.Score(emulated);
        return new TranslationFigures(eval.Count, Math.Round(before.Bleu, 2), Math.Round(after.Bleu, 2), Math.Round(before.ExactMatch, 4),
            Math.Round(after.ExactMatch, 4), Math.Round(TranslationScorer.TokenAgreement(original, emulated), 4));
    }
}
