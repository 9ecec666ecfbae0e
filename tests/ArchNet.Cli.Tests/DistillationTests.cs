using System.Diagnostics;
using System.Text.Json.Nodes;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Cli.Tests;

/// <summary>
/// Distillation through the command line: a run killed with SIGKILL resumes from its last checkpoint and ends with the
/// same artifact as an uninterrupted run; training reads no labels (shuffled evaluation labels change nothing it makes).
/// </summary>
public sealed class DistillationTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A small CNN whose 3x3 stride-2 padded max-pool archnet cannot run and no exact rewrite expresses: it is retrained.</summary>
    private string Teacher()
    {
        var b = new GraphBuilder(opset: 13, seed: 11);
        var x = b.Input("image", 1, 1, 8, 8);
        var c1 = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 1, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1)));
        var p = b.Op("MaxPool", [c1], Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 1, 1, 1, 1));
        var c2 = b.Op("Relu", b.Op("Conv", [p, b.Random([6, 4, 3, 3]), b.Random([6])], Attribute.Ints("pads", 1, 1, 1, 1)));
        var g = b.Op("Flatten", b.Op("GlobalAveragePool", c2));
        b.Output(b.Op("Gemm", [g, b.Random([10, 6]), b.Random([10])], Attribute.Int("transB", 1)));
        var path = _dir.File("teacher.onnx");
        OnnxExporter.Save(b.Build(), path);
        return path;
    }

    private string[] Args(string model, string outDir, string steps, params string[] more) =>
        [model, "--target", "archnet", "-o", outDir, "--calib", "random:64?seed=3&min=0&max=1", "--wbits", "4", "--abits", "4",
         "--distill-steps", steps, "--distill-batch", "8", "--threads", "1", .. more];

    [Fact]
    public void KilledRun_Resumed_EndsWithTheSameArtifactAsAnUninterruptedRun()
    {
        var model = Teacher();
        const string steps = "3000";
        var whole = _dir.File("whole");
        var r = Archnetc.Run(_dir.Path, TimeSpan.FromMinutes(5), Args(model, whole, steps));
        Assert.True(r.ExitCode == 0, r.ToString());

        // Start the same compile elsewhere and kill it (SIGKILL: no handler runs) once its first checkpoint exists.
        var killed = _dir.File("killed");
        var checkpoint = Path.Combine(killed, "distill", "distill.ckpt");
        using (var process = Process.Start(Archnetc.StartInfo(_dir.Path, Args(model, killed, steps)))!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            while (!File.Exists(checkpoint) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(4)) Thread.Sleep(10);
            Assert.False(process.HasExited, "the compile ended before its first checkpoint could be interrupted: give it more steps");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Assert.True(File.Exists(checkpoint), "no checkpoint was written before the kill");
        Assert.False(File.Exists(Path.Combine(killed, "report.json")), "the killed run got as far as its report");

        var resumed = Archnetc.Run(_dir.Path, TimeSpan.FromMinutes(5), Args(model, killed, steps));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("resuming after period", resumed.Stdout + resumed.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "model.qdq.onnx")), File.ReadAllBytes(Path.Combine(killed, "model.qdq.onnx")));
        var blocks = (string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "report.json")))!["distillation"]!["blocks"]!.ToJsonString();
        Assert.Equal(blocks(whole), blocks(killed));
    }

    [Fact]
    public void Training_ReadsNoLabels_ShuffledEvaluationLabelsChangeNothingItMakes()
    {
        var model = Teacher();
        var (a, _) = CompileWithLabelsAndShuffledLabels(model);
        var report = (string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "report.json")))!;
        // A conv output read only by its ReLU holds the ReLU's integers (one group): the per-layer rows compare the ReLU,
        // not the conv's clamped integers against its float negatives. Trained parameters are new objects per value, equal
        // in value only; compared by reference, the convs were listed as the worst layers (cosine 0.57 on fmnist_cnn).
        var rows = report(a)["layers"]!.AsArray().Select(l => l!["value"]!.GetValue<string>()).ToList();
        var intoRelu = OnnxImporter.Load(model).Graph.Nodes.Where(n => n.OpType == "Conv").Select(n => n.Outputs[0])
            .Where(v => v.Uses is [{ Node.OpType: "Relu" }]).Select(v => v.Name).ToList();
        Assert.Equal(2, intoRelu.Count);
        Assert.NotEmpty(rows);
        Assert.Empty(rows.Intersect(intoRelu));
    }

    /// <summary>Issue 22's paths read no labels either: ReLU6 started as ReLU, and a synthesized student (fitted by least
    /// squares on calibration features, then trained) for the squeeze-excitation Mul of a MobileNet block.</summary>
    [Fact]
    public void SynthesizedStudent_ReadsNoLabels_ShuffledEvaluationLabelsChangeNothingItMakes()
    {
        var model = _dir.File("mobilenet_se.onnx");
        OnnxExporter.Save(ModernBlocks.Build("mobilenet_se"), model);
        // Its output is a feature map, not class scores: no accuracy to measure with the labels.
        // Not bit for bit: two runs of this block with the same labels already part in the last bits (seen 2026-12-08
        // after 120 steps, cosine 0.997432 vs 0.997427, and once after 30), which no label can cause.
        var (a, _) = CompileWithLabelsAndShuffledLabels(model, classifier: false, steps: "30", bitExact: false);
        var replacements = JsonNode.Parse(File.ReadAllText(Path.Combine(a, "report.json")))!["distillation"]!["replacements"]!.AsArray()
            .Select(r => r!.GetValue<string>()).ToList();
        Assert.Contains(replacements, r => r.StartsWith("mul19 (Mul): synthesized student", StringComparison.Ordinal));
        Assert.Contains(replacements, r => r.StartsWith("clip5 (Clip): Clip(x, 0, c) (ReLU6) -> ReLU", StringComparison.Ordinal));
    }

    /// <summary>Compiles <paramref name="model"/> twice, with labels and with the same labels shuffled, and asserts that
    /// training made the same artifact and figures; returns the two output folders.</summary>
    private (string A, string B) CompileWithLabelsAndShuffledLabels(string model, bool classifier = true, string steps = "120", bool bitExact = true)
    {
        var labels = Enumerable.Range(0, 64).Select(i => (long)(i % 10)).ToArray();
        var shuffled = labels.ToArray();
        new Random(5).Shuffle(shuffled);
        Assert.NotEqual(labels, shuffled);
        Npy.Write(_dir.File("labels.npy"), TensorData.FromInt64s([64], labels));
        Npy.Write(_dir.File("shuffled.npy"), TensorData.FromInt64s([64], shuffled));

        var a = _dir.File("a");
        var b = _dir.File("b");
        var ra = Archnetc.Run(_dir.Path, TimeSpan.FromMinutes(3), Args(model, a, steps, "--eval-labels", "npy:" + _dir.File("labels.npy")));
        var rb = Archnetc.Run(_dir.Path, TimeSpan.FromMinutes(3), Args(model, b, steps, "--eval-labels", "npy:" + _dir.File("shuffled.npy")));
        Assert.True(ra.ExitCode == 0, ra.ToString());
        Assert.True(rb.ExitCode == 0, rb.ToString());

        var report = (string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "report.json")))!;
        if (bitExact)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, "model.qdq.onnx")), File.ReadAllBytes(Path.Combine(b, "model.qdq.onnx")));
            Assert.Equal(report(a)["distillation"]!["blocks"]!.ToJsonString(), report(b)["distillation"]!["blocks"]!.ToJsonString());
            Assert.Equal(report(a)["fidelity"]!.ToJsonString(), report(b)["fidelity"]!.ToJsonString());
        }
        else
        {
            // What labels could steer: the replacements, the students' starting point (the least-squares fits) exactly, and
            // the trained figures up to the last bits in which two runs with the same labels already differ.
            JsonNode Blocks(string dir) => report(dir)["distillation"]!["blocks"]!;
            Assert.Equal(report(a)["distillation"]!["replacements"]!.ToJsonString(), report(b)["distillation"]!["replacements"]!.ToJsonString());
            Assert.Equal(Blocks(a).AsArray().Select(x => x!["cosine_before"]!.ToJsonString()), Blocks(b).AsArray().Select(x => x!["cosine_before"]!.ToJsonString()));
            Assert.Equal(Blocks(a).AsArray().Select(x => x!["cosine_after"]!.GetValue<double>()), Blocks(b).AsArray().Select(x => x!["cosine_after"]!.GetValue<double>()),
                (p, q) => Math.Abs(p - q) <= 1e-3);
            Assert.Equal(report(a)["fidelity"]!["cosine"]!.GetValue<double>(), report(b)["fidelity"]!["cosine"]!.GetValue<double>(), 3);
        }
        // The labels did reach the report: accuracy is measured with them (so the two runs did read different files).
        if (classifier) Assert.NotNull(report(a)["accuracy"]);
        return (a, b);
    }

    [Theory]
    [InlineData("--distill-steps", "0", "--distill-steps must be at least 1 (got 0)")]
    [InlineData("--distill-batch", "-2", "--distill-batch must be at least 1 (got -2)")]
    [InlineData("--distill-drop", "1", "--distill-drop must be at least 0 and below 1 (got 1)")]
    [InlineData("--threads", "0", "--threads must be at least 1 (got 0)")]
    public void DistillationKnobOutOfRange_OneErrorLine_NothingWritten(string option, string value, string message)
    {
        var model = Teacher();
        var outDir = _dir.File("out");
        var args = Args(model, outDir, "10").ToList();
        var at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value; else args.AddRange([option, value]);
        var r = Archnetc.Run(_dir.Path, TimeSpan.FromMinutes(2), [.. args]);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Single(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("import...", r.Stdout + r.Stderr); // checked before the first stage
        Assert.False(File.Exists(Path.Combine(outDir, "model.qdq.onnx")));
    }
}
