using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Passes.Distillation.Lowering;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation;

/// <summary>Knobs of the distillation pass. The defaults meet the Fashion-MNIST goals on two cores.</summary>
public sealed record DistillationOptions
{
    /// <summary>Optimizer steps over all periods together; null: <see cref="DefaultSteps"/> for the plan's bit widths.</summary>
    public int? Steps { get; init; }

    /// <summary>
    /// 3000 steps when weights or activations go below 8 bits, 1500 otherwise (and without a plan): the narrower
    /// grid needs the longer schedule, and at 8 bits it costs fidelity. With eight blocks that is 300 (150) steps per
    /// block and <see cref="OutputPeriodShare"/> times that for the last. Measured (8192 calibration images, whole t10k,
    /// one thread, seeds 0 / 1 / 2): fmnist_vit for archnet-transformer W8A8 -0.69 / -0.58 / -0.83 pt, against -0.75 /
    /// -1.02 / -0.82 with the 1200 steps and equal periods used before; fmnist_resnet for archnet (edges 8-bit) W4A4
    /// -0.18 / -0.48 / -0.49 against -0.33 / -0.35 / -0.44 at 2400 equal steps, W2A4 -0.56 against -0.61 (seed 0).
    /// Earlier, with 2048 images: the ViT -0.79 at 1200 equal steps and -1.04 at 2400; the resnet W4A4 -0.52 at 1200,
    /// -0.48 / -0.45 / -0.47 at 2400. 3000 steps of fmnist_resnet took 196 s on one AVX-512 core and 130 s on two.
    /// </summary>
    public static int DefaultSteps(QuantizationPlan? plan) =>
        plan is not null && Math.Min(plan.WeightBits, plan.ActivationBits) < 8 ? NarrowDefaultSteps : WideDefaultSteps;

    public const int NarrowDefaultSteps = 3000, WideDefaultSteps = 1500;

    /// <summary>
    /// The last period, the only one that trains the outputs themselves (their cosine and the class scores' KL), runs
    /// this many periods' worth of the steps. Measured (means over seeds 0 / 1 / 2): the ViT's W8A8 drop -0.86 -> -0.70 pt
    /// (2048 images: -1.01 -> -0.88); the resnet's W4A4 -0.37 -> -0.38 at one torch thread, -0.50 -> -0.30 at two
    /// (-0.63 / -0.43 / -0.45 -> -0.30 / -0.42 / -0.19); see <see cref="DefaultSteps"/>.
    /// </summary>
    public const int OutputPeriodShare = 3;

    public int BatchSize { get; init; } = 32;
    public int Seed { get; init; }
    public double LearningRate { get; init; } = 5e-4;
    /// <summary>At most this many progressive periods (blocks are merged evenly when the model has more cut points).</summary>
    public int MaxBlocks { get; init; } = 8;
    /// <summary>Items of the calibration data used to measure fidelity per block before and after training.</summary>
    public int FidelityItems { get; init; } = 256;
    /// <summary>Folder for the checkpoint (rerunning with the same folder resumes); null: no checkpoints.</summary>
    public string? CheckpointDirectory { get; init; }
    /// <summary>Stop after this many periods (tests use it to simulate an interrupted run); null: run to the end.</summary>
    public int? StopAfterPeriods { get; init; }
    /// <summary>
    /// Weight of the knowledge-distillation term of the last period when the model's output is class scores
    /// (rank 2, more than one class): KL(softmax(teacher) || softmax(student)), which aims the output fidelity at
    /// the scores' order rather than their values. 0 turns it off. Measured on fmnist_resnet for archnet, edges
    /// 8-bit, whole t10k: W2A4 top-1 drop 1.78 -> 1.60 pt, agreement 94.6 -> 95.4 %; W4A4 drop 0.51 -> 0.66 pt
    /// (15 images), agreement 96.8 -> 97.0 %.
    /// </summary>
    public double ClassScoreWeight { get; init; } = 1.0;
    /// <summary>
    /// QDrop's probability that an activation element stays float while training (<see cref="FakeQuantizers.DropProbability"/>);
    /// 0: off. Off by default: 0.5 measured no better on fmnist_resnet for archnet, edges 8-bit (before the stem chain
    /// went 8-bit), whole t10k: W4A4 -0.63 pt vs -0.66 at 1200 steps, -0.61 vs -0.50 at 2400; W2A4 -1.98 / -1.42 vs
    /// -1.35 / -1.72 on seeds 0 / 1.
    /// </summary>
    public double ActivationDrop { get; init; }
}

/// <summary>Fidelity of one block's target tensor (student with fake quantization vs teacher), before and after training.</summary>
public sealed record BlockFidelity(int Block, string Tensor, IReadOnlyList<string> Replacements, double CosineBefore, double CosineAfter,
    double SqnrDbBefore, double SqnrDbAfter);

/// <summary>One point of a period's training curve: the mean loss of the steps since the previous point, and the cosine
/// of the period's block tensor (student with fake quantization vs teacher) on the last step's training batch.</summary>
/// <param name="Step">Steps done in this run, over all periods, at this point.</param>
public sealed record TrainingPoint(int Block, int Step, double Loss, double Cosine);

/// <summary>What distillation did, for the compile report.</summary>
public sealed record DistillationReport(
    IReadOnlyList<ReplacementRecord> Replacements,
    IReadOnlyList<BlockFidelity> Blocks,
    int Periods, int Steps, int BatchSize, int Seed, int ResumedPeriods,
    double FirstLoss, double LastLoss, double Seconds, LearnedQuantization? Quantization)
{
    /// <summary>First and last loss of each period trained in this run.</summary>
    public IReadOnlyList<(double First, double Last)> PeriodLosses { get; init; } = [];

    /// <summary>The loss and block cosine against steps, <see cref="Distiller.CurvePointsPerPeriod"/> points a period
    /// trained in this run (the report's plots).</summary>
    public IReadOnlyList<TrainingPoint> Curve { get; init; } = [];

    /// <summary>Constant the student adds to each graph output it learned offset (unsigned chips; arg-max unchanged),
    /// by output name: compare the compiled output with the original's plus this.</summary>
    public IReadOnlyDictionary<string, double> OutputOffsets { get; init; } = new Dictionary<string, double>();

    /// <summary>Why the student ran item by item (a constant folded at batch 1), or null: in batches.</summary>
    public string? ItemByItem { get; init; }
}

/// <summary>
/// Label-free blockwise distillation (Arch-Net, Xu et al. 2021): the student graph (the teacher with replacements)
/// is cut at tensors the teacher also has (after each ReLU unit, residual block or transformer sublayer); period k
/// trains every parameter before cut k to reproduce the teacher's tensors at cuts 1..k, the newest weighted 1 and
/// older ones by 0.8 per step back; the last period, <see cref="DistillationOptions.OutputPeriodShare"/> periods long,
/// adds (1 - cosine) on the outputs (and, for class scores, the KL
/// divergence of their softmax: <see cref="DistillationOptions.ClassScoreWeight"/>). Fake quantization (LSQ
/// weights and unsigned activations with learned steps) is active from the start. Teacher tensors are computed
/// from the calibration inputs only; no labels exist anywhere in this API.
/// </summary>
public sealed class Distiller(DistillationOptions options, IDiagnostics diagnostics)
{
    private const string CheckpointFile = "distill.ckpt";
    /// <summary>Points of the training curve per period: enough for a plot, few enough for report.json.</summary>
    public const int CurvePointsPerPeriod = 30;
    private static readonly HashSet<string> CutOps = ["Relu", "Add", "Concat"];

    /// <summary>
    /// Trains <paramref name="student"/> (in place: its constants become the trained weights, already on the
    /// quantization grid when <paramref name="plan"/> is given) to mimic <paramref name="teacher"/> on
    /// <paramref name="inputs"/> (the calibration items of the model's single input, first dimension = items).
    /// </summary>
    public DistillationReport Run(Model teacher, Model student, TensorData inputs, QuantizationPlan? plan,
        IReadOnlyList<ReplacementRecord> replacements)
    {
        var clock = Stopwatch.StartNew();
        torch.manual_seed(options.Seed);
        var tInputs = teacher.Graph.Inputs.Where(v => !v.IsConstant).ToList();
        var sInputs = student.Graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (tInputs.Count != 1 || sInputs.Count != 1)
            throw new ArchNetException($"distillation supports models with one input; this one has {tInputs.Count}");

        var cuts = Cuts(teacher, student);
        var periods = cuts.Count;
        var teacherByName = teacher.Graph.Nodes.SelectMany(n => n.Outputs).Concat(teacher.Graph.Outputs)
            .GroupBy(v => v.Name).ToDictionary(g => g.Key, g => g.First());
        var studentByName = student.Graph.Nodes.SelectMany(n => n.Outputs).GroupBy(v => v.Name).ToDictionary(g => g.Key, g => g.First());
        var outputs = student.Graph.Outputs.Select(v => v.Name).ToList();

        // Graphs tied to batch 1 by folded constants (a Reshape to [17,4,16], a class token concatenated as a constant)
        // run in a form that stacks items where one exists, else item by item (outputs concatenated).
        var teacherCuts = cuts.Select(c => teacherByName[c]).ToList();
        using var teacherForm = BatchBinding.Unbind(teacher.Graph, out var teacherBound, teacherCuts, Opset(teacher));
        using var teacherModule = new GraphModule(teacherForm?.Nodes ?? teacher.Graph.Nodes, tInputs, teacherCuts, Opset(teacher));
        if (teacherBound is not null) _itemByItem.Add(teacherModule);
        teacherModule.eval();
        using var data = TorchTensors.FromData(inputs);
        var n = data.shape[0];
        using var fidelityBatch = data.narrow(0, 0, Math.Min(n, options.FidelityItems));
        _shifts = OutputShifts(teacherModule, student, fidelityBatch, plan, cuts, outputs);
        // Quantizers from the student as the chip runs it, before its batched training form (below) rewires anything.
        using var fq = plan is null ? null : new FakeQuantizers(student.Graph, plan);
        var studentCuts = cuts.Select(c => studentByName[c]).ToList();
        using var batchedForm = BatchBinding.Unbind(student.Graph, out var studentBound, studentCuts, Opset(student));
        if (batchedForm is not null)
            diagnostics.Info("distillation: the student's batch-1 constants take the batch while it trains (items stacked)");
        else if (studentBound is not null)
            diagnostics.Info($"distillation: the student runs item by item, bound to batch 1 at {studentBound}");
        using var studentModule = new GraphModule(batchedForm?.Nodes ?? student.Graph.Nodes, sInputs, studentCuts, Opset(student));
        if (studentBound is not null) _itemByItem.Add(studentModule);
        foreach (var p in teacherModule.parameters()) p.requires_grad = false;

        // Activation steps start at the float student's maxima on the first items.
        if (fq is not null)
        {
            var maxima = new Dictionary<Value, ActivationObservation>();
            using var _ = NewDisposeScope();
            using var noGrad = torch.no_grad();
            studentModule.Transform = fq.Observer(maxima);
            Run(studentModule, fidelityBatch);
            fq.InitialiseActivationSteps(maxima);
            studentModule.Transform = fq.Apply;
            studentModule.ReluTransform = fq.ApplyRelu; // conv -> ReLU units quantized in one pass (same values)
        }

        var before = Fidelity(teacherModule, studentModule, fidelityBatch);
        var parameters = studentModule.parameters().Concat(fq?.Steps ?? []).ToList();
        var fingerprint = Fingerprint(student, inputs, plan, parameters);
        var done = LoadCheckpoint(parameters, fingerprint);
        if (done > 0) diagnostics.Info($"distillation: resuming after period {done} of {periods} from the checkpoint");

        // The last period gets OutputPeriodShare periods' worth of the steps.
        var shares = periods - 1 + DistillationOptions.OutputPeriodShare;
        var stepsPerPeriod = Math.Max(1, Steps(plan) / shares);
        double firstLoss = double.NaN, lastLoss = double.NaN;
        var periodLosses = new List<(double, double)>();
        var curve = new List<TrainingPoint>();
        for (var period = done; period < periods; period++)
        {
            if (options.StopAfterPeriods is { } stop && period >= stop) break;
            var final = period == periods - 1;
            // QDrop's masks from a generator seeded per period: a resumed run draws the same masks as an uninterrupted one.
            using var masks = new Generator(unchecked((ulong)(options.Seed * 1_000_003L + period)));
            if (fq is not null) (fq.DropProbability, fq.DropMasks) = (options.ActivationDrop, masks);
            var steps = final ? stepsPerPeriod * DistillationOptions.OutputPeriodShare : stepsPerPeriod;
            var (f, l) = TrainPeriod(period, final, steps, teacherModule, studentModule, data, parameters, outputs.Count, cuts, curve);
            if (fq is not null) (fq.DropProbability, fq.DropMasks) = (0, null);
            if (double.IsNaN(firstLoss)) firstLoss = f;
            periodLosses.Add((f, l));
            lastLoss = l;
            SaveCheckpoint(parameters, fingerprint, period + 1);
        }

        var after = Fidelity(teacherModule, studentModule, fidelityBatch);
        var blocks = cuts.Select((c, i) => new BlockFidelity(i + 1, c,
            [.. replacements.Where(r => BlockOf(cuts, student, r.Output) == i).Select(r => $"{r.Node} ({r.OpType}): {r.Replacement}")],
            Math.Round(before[i].Cosine, 6), Math.Round(after[i].Cosine, 6), Math.Round(before[i].Sqnr, 3), Math.Round(after[i].Sqnr, 3))).ToList();

        WriteBack(studentModule, fq);
        return new DistillationReport(replacements, blocks, periods, stepsPerPeriod * shares, options.BatchSize, options.Seed, done,
            firstLoss, lastLoss, Math.Round(clock.Elapsed.TotalSeconds, 1), fq?.Learned())
        {
            PeriodLosses = periodLosses,
            Curve = curve,
            OutputOffsets = cuts.Select((c, i) => (c, i)).Where(p => _shifts[p.i] != 0).ToDictionary(p => p.c, p => _shifts[p.i]),
            ItemByItem = studentBound?.ToString(),
        };
    }

    private int Steps(QuantizationPlan? plan) => options.Steps ?? DistillationOptions.DefaultSteps(plan);

    private double[] _shifts = [];
    private readonly HashSet<GraphModule> _itemByItem = [];

    /// <summary>The module's cut tensors (up to cut <paramref name="k"/>) for the items <paramref name="x"/>, item by item when its graph is bound to batch 1.</summary>
    private Tensor[] Run(GraphModule m, Tensor x, int? k = null)
    {
        Tensor[] One(Tensor xi) => k is { } kk ? m.ForwardUntil([xi], kk) : m.forward([xi]);
        if (!_itemByItem.Contains(m)) return One(x);
        var parts = Enumerable.Range(0, (int)x.shape[0]).Select(i => One(x.narrow(0, i, 1))).ToList();
        return [.. Enumerable.Range(0, parts[0].Length).Select(j => torch.cat(parts.Select(p => p[j]).ToArray(), 0))];
    }

    private Tensor[] Shifted(Tensor[] targets) =>
        [.. targets.Select((t, i) => i < _shifts.Length && _shifts[i] != 0 ? t + _shifts[i] : t)];

    /// <summary>
    /// On a chip whose activations are unsigned, negative logits would be clipped to 0 and give no gradient. The
    /// student's output layer instead learns the teacher's logits plus a constant (its bias starts shifted by it);
    /// the arg-max, and so top-1, is unchanged by a constant. Returns the shift per cut (0 where none).
    /// </summary>
    private double[] OutputShifts(GraphModule teacher, Model student, Tensor x, QuantizationPlan? plan, List<string> cuts, List<string> outputs)
    {
        var shifts = new double[cuts.Count];
        if (plan is null || plan.SignedActivations) return shifts;
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var t = Run(teacher, x);
        for (var i = 0; i < cuts.Count; i++)
        {
            if (!outputs.Contains(cuts[i])) continue;
            var min = TorchTensors.ToScalar(t[i].min());
            if (min >= 0) continue;
            var producer = student.Graph.Nodes.FirstOrDefault(nd => nd.Outputs.Any(o => o.Name == cuts[i]));
            var shift = OutputOffset.For(min);
            if (producer is null || !OutputOffset.TryApply(student.Graph, producer, shift)) continue;
            shifts[i] = shift;
            diagnostics.Info($"distillation: output '{cuts[i]}' is unsigned on this chip; the student learns it offset by {shift:G4} (arg-max unchanged)");
        }
        return shifts;
    }

    private static long Opset(Model m) => m.Opset() == 0 ? GraphModule.DefaultOpset : m.Opset();

    /// <summary>
    /// Cut points: tensors the teacher has and the student reproduces (outputs of ReLU, residual Add/Concat, and the
    /// graph outputs), in the student's order, merged evenly down to <see cref="DistillationOptions.MaxBlocks"/>.
    /// </summary>
    private List<string> Cuts(Model teacher, Model student)
    {
        var teacherNames = teacher.Graph.Nodes.Where(nd => CutOps.Contains(nd.OpType)).SelectMany(nd => nd.Outputs)
            .Where(v => v.ElementType == ElementType.Float).Select(v => v.Name).ToHashSet();
        var teacherOutputs = teacher.Graph.Outputs.Select(v => v.Name).ToHashSet();
        // A cut is compared as a batch of items, the student's perhaps as items run one by one and concatenated: the items
        // must lead it. Sequence-first attention's [17, N*4, 16] they do not lead (N results of one item concatenated are
        // not the N stacked items the teacher gives), so such tensors are not cut.
        var axes = ItemAxes.Of(student.Graph, Opset(student));
        bool ItemsLead(Value v) => axes is null || axes.Positions.TryGetValue(v, out var p) && v.Shape is { } shape && p.Leads(shape);
        var shared = student.Graph.Nodes.SelectMany(nd => nd.Outputs)
            .Where(v => teacherNames.Contains(v.Name) && !teacherOutputs.Contains(v.Name)).DistinctBy(v => v.Name).ToList();
        var candidates = shared.Where(ItemsLead).Select(v => v.Name).ToList();
        if (shared.FirstOrDefault(v => !ItemsLead(v)) is { } first)
            diagnostics.Info($"distillation: {shared.Count - candidates.Count} tensor(s) shared with the teacher are not cut points: the items " +
                $"do not lead them (first {first.Name}, {first.Shape})");
        var keep = Math.Max(0, options.MaxBlocks - 1);
        var chosen = candidates.Count <= keep ? candidates
            : [.. Enumerable.Range(1, keep).Select(i => candidates[(int)Math.Round((double)i * candidates.Count / (keep + 1)) - 1]).Distinct()];
        chosen.AddRange(student.Graph.Outputs.Select(v => v.Name).Where(teacherOutputs.Contains));
        if (chosen.Count == 0) throw new ArchNetException("distillation found no tensor shared by the teacher and the student");
        return chosen;
    }

    private static int BlockOf(List<string> cuts, Model student, string value)
    {
        var order = student.Graph.Nodes.SelectMany((nd, i) => nd.Outputs.Select(o => (o.Name, i))).GroupBy(p => p.Name)
            .ToDictionary(g => g.Key, g => g.First().i);
        if (!order.TryGetValue(value, out var at)) return -1;
        for (var i = 0; i < cuts.Count; i++)
            if (order.TryGetValue(cuts[i], out var c) && at <= c) return i;
        return cuts.Count - 1;
    }

    private (double First, double Last) TrainPeriod(int period, bool final, int steps, GraphModule teacher, GraphModule student,
        Tensor data, List<Parameter> parameters, int outputCount, List<string> cuts, List<TrainingPoint> curve)
    {
        var stepsBefore = curve.Count == 0 ? 0 : curve[^1].Step;
        var every = Math.Max(1, steps / CurvePointsPerPeriod);
        var pointedAt = 0; // losses up to here are in the curve's points already
        var k = period + 1;
        using var optimizer = torch.optim.AdamW(parameters, lr: options.LearningRate, weight_decay: 0);
        // Not HashCode.Combine: it is randomised per process, and a resumed run must draw the same batches.
        var rng = new Random(unchecked(options.Seed * 1_000_003 + period) & 0x7fffffff);
        var n = (int)data.shape[0];
        var batch = Math.Min(options.BatchSize, n);
        using var progress = diagnostics.BeginProgress($"distill block {k}/{cuts.Count}", steps);
        var losses = new List<double>();
        student.train();
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var lr = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step / steps));
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            var idx = new long[batch];
            for (var i = 0; i < batch; i++) idx[i] = rng.Next(n);
            var x = data.index_select(0, torch.tensor(idx));
            Tensor[] targets;
            using (torch.no_grad()) targets = Shifted(Run(teacher, x, k));
            var outs = Run(student, x, k);
            var loss = torch.zeros(1);
            for (var j = 0; j < k; j++)
            {
                var t = targets[j];
                var weight = Math.Pow(0.8, k - 1 - j);
                // MSE relative to the teacher tensor's mean square, so that blocks of different scales weigh alike.
                var mse = (outs[j] - t).pow(2).mean() / (t.pow(2).mean() + 1e-8);
                loss = loss + mse * weight;
            }
            if (final)
            {
                var s = outs[k - 1].flatten(1);
                var t = targets[k - 1].flatten(1);
                loss = loss + (1 - nn.functional.cosine_similarity(s, t, 1, 1e-8).mean());
                if (options.ClassScoreWeight > 0 && IsClassScores(outs[k - 1]))
                {
                    // Softmax ignores the unsigned chips' constant output offset, so the shifted target serves as is.
                    var logT = nn.functional.log_softmax(t, 1);
                    var kl = (logT.exp() * (logT - nn.functional.log_softmax(s, 1))).sum(1).mean();
                    loss = loss + kl * options.ClassScoreWeight;
                }
            }
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            var value = loss.item<float>();
            losses.Add(value);
            if ((step + 1) % every == 0 || step == steps - 1)
            {
                double cosine;
                using (torch.no_grad())
                    cosine = nn.functional.cosine_similarity(outs[k - 1].flatten(1), targets[k - 1].flatten(1), 1, 1e-8).mean().item<float>();
                curve.Add(new TrainingPoint(k, stepsBefore + step + 1, Math.Round(losses.Skip(pointedAt).Average(), 6), Math.Round(cosine, 6)));
                pointedAt = losses.Count;
            }
            progress.Advance(1, $"loss {value:G4}"); // the progress line gives the ETA
        }
        student.eval();
        // Averages of the first and last tenth: single batches are noisy.
        var w = Math.Max(1, losses.Count / 10);
        return (losses.Take(w).Average(), losses.TakeLast(w).Average());
    }

    private static bool IsClassScores(Tensor output) => output.dim() == 2 && output.shape[1] > 1;

    private List<(double Cosine, double Sqnr)> Fidelity(GraphModule teacher, GraphModule student, Tensor x)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var t = Shifted(Run(teacher, x));
        var s = Run(student, x);
        var result = new List<(double, double)>();
        for (var i = 0; i < t.Length; i++)
        {
            var tf = t[i].flatten(1);
            var sf = s[i].flatten(1);
            var cos = TorchTensors.ToScalar(nn.functional.cosine_similarity(sf, tf, 1, 1e-8).mean());
            var signal = TorchTensors.ToScalar(tf.pow(2).sum());
            var noise = TorchTensors.ToScalar((sf - tf).pow(2).sum());
            result.Add((cos, 10 * Math.Log10(Math.Max(signal, 1e-30) / Math.Max(noise, 1e-30))));
        }
        return result;
    }

    /// <summary>Trained values into the IR; weights as their fake-quantized values, so the integer backends see exactly the trained grid.</summary>
    private static void WriteBack(GraphModule student, FakeQuantizers? fq)
    {
        student.CopyParametersToGraph();
        if (fq is null) return;
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (value, parameter) in student.ValueParameters)
        {
            var q = fq.Apply(value, parameter);
            if (!ReferenceEquals(q, parameter)) value.Constant = TorchTensors.ToData(q);
        }
    }

    // --- checkpoints -----------------------------------------------------------------------------------------

    private string Fingerprint(Model student, TensorData inputs, QuantizationPlan? plan, List<Parameter> parameters)
    {
        var text = new StringBuilder();
        text.Append($"{Steps(plan)}|{options.BatchSize}|{options.Seed}|{options.LearningRate:R}|{options.MaxBlocks}|{options.ClassScoreWeight:R}|{options.ActivationDrop:R}|{plan}|");
        text.Append($"{inputs.ElementCount}|{string.Join(",", parameters.Select(p => string.Join("x", p.shape)))}|");
        text.Append(string.Join(",", student.Graph.Nodes.Select(nd => nd.OpType)));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private int LoadCheckpoint(List<Parameter> parameters, string fingerprint)
    {
        if (options.CheckpointDirectory is not { } dir) return 0;
        var path = Path.Combine(dir, CheckpointFile);
        if (!File.Exists(path)) return 0;
        using var reader = new BinaryReader(File.OpenRead(path));
        if (reader.ReadString() != "archnet-distill-1" || reader.ReadString() != fingerprint)
        {
            diagnostics.Warning($"distillation checkpoint {path} belongs to another model or other options; starting over");
            return 0;
        }
        var done = reader.ReadInt32();
        var count = reader.ReadInt32();
        if (count != parameters.Count) return 0;
        using var noGrad = torch.no_grad();
        foreach (var p in parameters)
        {
            var length = reader.ReadInt32();
            var values = new float[length];
            for (var i = 0; i < length; i++) values[i] = reader.ReadSingle();
            using var t = torch.tensor(values, p.shape);
            p.copy_(t);
        }
        return done;
    }

    private void SaveCheckpoint(List<Parameter> parameters, string fingerprint, int done)
    {
        if (options.CheckpointDirectory is not { } dir) return;
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, CheckpointFile);
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write("archnet-distill-1");
            writer.Write(fingerprint);
            writer.Write(done);
            writer.Write(parameters.Count);
            foreach (var p in parameters)
            {
                using var scope = NewDisposeScope();
                var values = p.detach().contiguous().data<float>().ToArray();
                writer.Write(values.Length);
                foreach (var v in values) writer.Write(v);
            }
            writer.Flush();
            stream.Flush(true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
