using System.Text.Json;
using ArchNet.Backends.Reference;
using ArchNet.Compiler.Translation;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// Issue 23's first acceptance: the mt_en_fr teacher in ONNX Runtime, decoded greedily by our code, scores the card's
/// BLEU, and ORT's logits equal PyTorch's. The anchors are the card and the files PyTorch wrote, not our code.
/// </summary>
public sealed class TranslationScoreTests(ITestOutputHelper output)
{
    private static readonly TranslationTeacherFiles Teacher = TestData.TranslationTeacher;

    [Fact]
    public void MtEnFr_OrtLogits_MatchPyTorch_OnTheFirstEightTestRows()
    {
        var expected = Npy.Read(Teacher.TestLogits);
        var rows = (int)expected.Dims[0];
        var test = Npz.Read(Teacher.TestNpz);
        using var runner = ReferenceRunner.FromFile(Teacher.Onnx);
        var inputs = new Dictionary<string, TensorData>
        {
            ["src_ids"] = DataLoader.Take(test["src_ids"], rows),
            ["src_mask"] = DataLoader.Take(test["src_mask"], rows),
            ["tgt_ids"] = DataLoader.Take(test["tgt_ids"], rows),
        };

        var logits = runner.Run(inputs)["logits"];

        Assert.Equal(expected.Dims.ToArray(), logits.Dims.ToArray());
        var a = expected.Span<float>();
        var b = logits.Span<float>();
        var max = 0f;
        for (var i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        output.WriteLine($"max |ORT - PyTorch| = {max:G3} over {a.Length} logits");
        Assert.True(max <= 1e-4f, $"max abs difference {max}");
    }

    [Fact]
    public void MtEnFr_OrtGreedyDecoding_ScoresTheCardsBleu_AndReproducesTheTeachersTranslations()
    {
        using var card = JsonDocument.Parse(File.ReadAllText(Teacher.Json));
        var cardBleu = card.RootElement.GetProperty("bleu").GetDouble();
        var cardExact = card.RootElement.GetProperty("exact_match").GetDouble();
        var test = Npz.Read(Teacher.TestNpz);
        var count = (int)test["src_ids"].Dims[0];
        using var runner = new ReferenceRunner(File.ReadAllBytes(Teacher.Onnx), threads: 2);
        var decoder = new GreedyDecoder(new OrtTeacherForcing(runner, new TranslationInputs()), new SpecialTokens());
        var diagnostics = new CollectingDiagnostics();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var tokens = decoder.Decode(test["src_ids"].ToInt64s(), test["src_mask"].ToFloats(), count, diagnostics);

        var scorer = TranslationScorer.FromFiles(Teacher.Tokenizer, Teacher.TestTsv);
        var score = scorer.Score(tokens);
        var pytorch = TestPair.ReadTsv(Teacher.TestTsv).Select(p => p.Translation).ToList();
        var sameText = score.Translations.Zip(pytorch).Count(p => p.First == p.Second);
        var sameIds = SameAsTeacherIds(tokens, test["tgt_ids"]);
        output.WriteLine($"{count} sources in {clock.Elapsed.TotalSeconds:F1} s: BLEU {score.Bleu:F2} (card {cardBleu}), exact {score.ExactMatch:P1} " +
            $"(card {cardExact:P1}), {sameText} translations equal PyTorch's text, {sameIds} its ids");
        Assert.Equal(1000, count);
        Assert.Contains(diagnostics.Progress, p => p.Total == count);
        Assert.InRange(score.Bleu, cardBleu - 0.2, cardBleu + 0.2);
        Assert.Equal(cardExact, score.ExactMatch, 3);
        Assert.Equal(count, sameIds);
        foreach (var (mine, theirs) in score.Translations.Zip(pytorch).Where(p => p.First != p.Second).Take(8)) output.WriteLine($"ours [{mine}] pytorch [{theirs}]");
        Assert.Equal(count, sameText);
    }

    [Fact]
    public void Bleu_OfAnExactCopy_Is100_AndOfAShortCopy_PaysTheBrevityPenalty()
    {
        string[] refs = ["Le chat est sur le tapis, ici."];
        Assert.Equal(100, Bleu.Corpus(["le chat est sur le tapis , ici ."], refs), 9);
        // 8 of the reference's 9 tokens, every n-gram matching: BLEU is the brevity penalty exp(1 - 9/8) alone.
        Assert.Equal(100 * Math.Exp(1 - 9.0 / 8), Bleu.Corpus(["le chat est sur le tapis, ici"], refs), 9);
        Assert.Equal(["l", "'", "été", "-", "là", "42"], Bleu.Tokenize("L'Été - là 42"));
    }

    /// <summary>Rows whose decoded ids equal the teacher's (tgt_ids: BOS, its translation, then EOS or padding).</summary>
    private static int SameAsTeacherIds(int[][] tokens, TensorData teacherIds)
    {
        var ids = teacherIds.ToInt64s();
        var positions = (int)teacherIds.Dims[1];
        var same = 0;
        for (var r = 0; r < tokens.Length; r++)
        {
            var row = ids.AsSpan(r * positions + 1, positions - 1).ToArray().TakeWhile(t => t is not (0 or 3)).Select(t => (int)t);
            if (row.SequenceEqual(tokens[r])) same++;
        }
        return same;
    }
}

/// <summary>The compile's --seq2seq scoring: the original's BLEU is PyTorch's translations' BLEU, the compiled one comes from the emulator.</summary>
public sealed class TranslationCompileTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TranslationTeacherFiles Teacher = TestData.TranslationTeacher;
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-mt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CompileOptions Options(int sources, string seq2seq) => new(Teacher.Onnx, "reference-cpu", _dir)
    {
        Calibration = $"npz:{Teacher.CalibNpz}:64",
        Evaluation = $"npz:{Teacher.TestNpz}:{sources}",
        Seq2Seq = seq2seq,
        ActivationBits = 16,
        LayerFidelityItems = 4,
    };

    [Fact]
    public void MtEnFr_CompiledWithSeq2Seq_ReportsTheOriginalsBleuAsPyTorchsTranslationsScore_AndTheEmulatorsBleu()
    {
        const int sources = 12;
        var report = new Compilation(Options(sources, $"tokenizer={Teacher.Tokenizer},refs={Teacher.TestTsv}"), new CollectingDiagnostics()).Run();

        var t = report.Translation!;
        var pairs = TestPair.ReadTsv(Teacher.TestTsv).Take(sources).ToList();
        var pytorch = Bleu.Corpus([.. pairs.Select(p => p.Translation!)], [.. pairs.Select(p => p.Reference)]);
        output.WriteLine($"{t}; PyTorch's translations score {pytorch:F2}");
        Assert.Equal(sources, t.Sentences);
        Assert.Equal(Math.Round(pytorch, 2), t.BleuOriginal);
        // 16-bit activations keep the teacher's decisions: on 100 sources BLEU moved by +0.03 and 82 % of tokens agreed.
        Assert.True(t.TokenAgreement >= 0.6, $"token agreement {t.TokenAgreement}");
        Assert.Contains("\"translation\"", File.ReadAllText(Path.Combine(_dir, "report.json")));
        Assert.Contains("## Translation", File.ReadAllText(Path.Combine(_dir, "report.md")));
    }

    [Fact]
    public void Seq2Seq_WithoutRefs_IsRefusedInOneLine_BeforeAnythingIsCompiled()
    {
        var e = Assert.Throws<ArchNetException>(() => new Compilation(Options(4, $"tokenizer={Teacher.Tokenizer}"), new CollectingDiagnostics()).Run());
        Assert.Contains("'refs=' is required", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
