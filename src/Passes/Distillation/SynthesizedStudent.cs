using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using TorchSharp;
using static TorchSharp.torch;
using IRAttribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation;

/// <summary>
/// A maximal connected set of nodes the chip rejects and no replacement handles, grown until every tensor crossing its
/// border is one a student of the chip's ops can read and write: an NCHW map (at most <see cref="SynthesizedStudent.MaxChannels"/>
/// channels) or an [items, features] vector.
/// </summary>
public sealed record StudentRegion(IReadOnlyList<Node> Nodes, IReadOnlyList<Value> Inputs, IReadOnlyList<Value> Outputs);

/// <summary>
/// The generic student (issue 22): what is left after the exact rewrites and the replacement templates becomes a small
/// sub-network of the chip's own ops with the region's input and output shapes, trained by the same label-free
/// blockwise loop. A spatial map (NCHW out) is a stack of 3x3 convs: the first copies its input as Relu(x), Relu(-x)
/// (stride 2 per halving of the sides), the last is fitted by least squares to the region's outputs on the calibration
/// items; a reduction to a vector is Flatten (or a global average pool when the map is large) and a fully connected
/// layer fitted the same way. It is the fallback, never silent: each one is a replacement record naming the region,
/// its MACs and parameters against the original's, and its block's cosine before and after training is in the report.
/// </summary>
public static class SynthesizedStudent
{
    /// <summary>Arch-Net's input-channel limit per conv: a boundary map wider than this cannot be read by one conv.</summary>
    public const long MaxChannels = 512;

    /// <summary>Largest flattened map a student reads whole into its fully connected layer; past it, pooled first.</summary>
    private const long MaxFlattened = 4096;

    /// <summary>Calibration items the least-squares fit sees.</summary>
    private const int FitItems = 64;

    /// <summary>The summary every synthesized student's record starts with (the audit's remedy says the same).</summary>
    public const string Summary = "synthesized student";

    private static long[]? Dims(Value? v) => v?.Shape is { } s && s.Dims.All(d => d.Value is not null) ? [.. s.Dims.Select(d => d.Value!.Value)] : null;

    /// <summary>True when a student of 3x3 convs and fully connected layers can read or write <paramref name="v"/>.</summary>
    public static bool Admissible(Value v) =>
        v.ElementType == ElementType.Float && Dims(v) is { } d && (d.Length == 4 && d[1] <= MaxChannels || d.Length == 2);

    /// <summary>The regions of <paramref name="rejected"/> nodes, grown to admissible borders, in graph order.</summary>
    public static List<StudentRegion> Regions(Graph graph, IReadOnlyCollection<Node> rejected)
    {
        var regionOf = new Dictionary<Node, HashSet<Node>>();
        foreach (var seed in graph.Nodes.Where(rejected.Contains))
        {
            if (regionOf.ContainsKey(seed)) continue;
            var region = new HashSet<Node> { seed };
            var queue = new Queue<Node>([seed]);
            while (queue.Count > 0)
            {
                var n = queue.Dequeue();
                IEnumerable<Node> neighbours = [
                    // Connected rejected nodes, and across a border no student can use, whatever is on the other side.
                    .. n.Inputs.Where(v => v is { IsConstant: false, Producer: { } p } && (rejected.Contains(p) || !Admissible(v)) && !(p.OpType == "Constant"))
                        .Select(v => v!.Producer!),
                    .. n.Outputs.SelectMany(o => o.Uses.Where(u => rejected.Contains(u.Node) || !Admissible(o)).Select(u => u.Node)),
                ];
                foreach (var m in neighbours)
                {
                    if (regionOf.TryGetValue(m, out var other) && other != region)
                    {
                        foreach (var k in other) { region.Add(k); regionOf[k] = region; }
                        continue;
                    }
                    if (region.Add(m)) queue.Enqueue(m);
                }
            }
            foreach (var n in region) regionOf[n] = region;
        }
        var order = graph.Nodes.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i);
        return [.. regionOf.Values.Distinct().Select(r =>
        {
            var nodes = r.OrderBy(n => order[n]).ToList();
            var produced = nodes.SelectMany(n => n.Outputs).ToHashSet();
            var inputs = nodes.SelectMany(n => n.Inputs).Where(v => v is { IsAbsent: false, IsConstant: false } && !produced.Contains(v)).Distinct().ToList();
            var outputs = nodes.SelectMany(n => n.Outputs).Where(o => !o.IsAbsent
                && (o.Uses.Any(u => !r.Contains(u.Node)) || graph.Outputs.Contains(o))).ToList();
            return new StudentRegion(nodes, inputs!, outputs);
        }).OrderBy(r => order[r.Nodes[0]])];
    }

    /// <summary>Why no student can stand in for <paramref name="region"/>, one tensor a line, or null when one can.</summary>
    public static string? Refusal(StudentRegion region)
    {
        var lines = new List<string>();
        foreach (var v in region.Inputs.Concat(region.Outputs).Where(v => !Admissible(v)))
            lines.Add($"  tensor '{v.Name}' ({v.Type}): a student reads and writes only float NCHW maps of at most {MaxChannels} channels or [items, features] vectors, with static sizes");
        if (region.Outputs.Count != 1)
            lines.Add($"  region of '{region.Nodes[0].DisplayName}': {region.Outputs.Count} output tensors ({string.Join(", ", region.Outputs.Select(o => o.Name))}); a synthesized student writes one");
        else if (Dims(region.Outputs[0]) is { Length: 4 } y && Source(region, y) is null)
            lines.Add($"  tensor '{region.Outputs[0].Name}': no input map of the region has its size or a power-of-two multiple of it");
        else if (region.Inputs.Count == 0)
            lines.Add($"  region of '{region.Nodes[0].DisplayName}': it reads no tensor (a constant the compile could not fold)");
        return lines.Count == 0 ? null : string.Join("\n", lines);
    }

    /// <summary>The input maps a spatial student reads (all of the largest side that halves down to the output's) and the halvings.</summary>
    private static (List<Value> Maps, int Halvings)? Source(StudentRegion region, long[] y)
    {
        foreach (var halvings in Enumerable.Range(0, 4))
        {
            var maps = region.Inputs.Where(v => Dims(v) is [_, _, var h, var w] && Halve(h, halvings) == y[2] && Halve(w, halvings) == y[3]
                && (halvings == 0 || h > y[2])).ToList();
            if (maps.Count > 0 && maps.Sum(m => Dims(m)![1]) <= MaxChannels) return (maps, halvings);
        }
        return null;
    }

    private static long Halve(long side, int times)
    {
        for (var i = 0; i < times; i++) side = (side + 1) / 2;
        return side;
    }

    /// <summary>
    /// Replaces <paramref name="region"/> by a synthesized student (see the class summary), fitted on
    /// <paramref name="calibration"/> (items of the graph's single input) when given; the record counts the region's nodes <paramref name="capability"/> rejects. Returns the record for the report.
    /// </summary>
    public static ReplacementRecord Replace(Model model, StudentRegion region, Capability capability, TensorData? calibration)
    {
        var rejected = region.Nodes.Count(n => !capability.Check(n).IsSupported);
        var g = model.Graph;
        var y = region.Outputs[0];
        var yDims = Dims(y)!;
        var anchor = region.Nodes[^1];
        var hint = g.FreshName("student");
        var made = new List<Node>();
        Value Add(string op, Value?[] inputs, IRAttribute[] attrs, Value? output = null)
        {
            var o = output ?? new Value(g.FreshName($"{hint}_{op.ToLowerInvariant()}"));
            var n = new Node(op, inputs, [o], attrs, g.FreshName($"{hint}_{op.ToLowerInvariant()}"));
            g.InsertBefore(anchor, n);
            made.Add(n);
            ShapeInference.InferNode(n);
            return o;
        }
        // Every tensor of the fit lives in this scope: none is left to a finalizer.
        using var scope = torch.NewDisposeScope();
        var fit = calibration is null ? null : Features(model, region, calibration);
        var regionMacs = region.Nodes.Sum(n => OpRegistry.Macs(n) ?? 0);
        var regionParams = region.Nodes.SelectMany(n => n.Inputs).Where(v => v?.Constant is { } c && c.ElementType.IsFloatingPoint()).Distinct().Sum(v => v!.Constant!.ElementCount);
        var studentOut = new Value(g.FreshName(y.Name + "_student"), y.Type);
        string shape;
        var unused = new List<Value>();

        if (yDims.Length == 4)
        {
            var (maps, halvings) = Source(region, yDims)!.Value;
            unused.AddRange(region.Inputs.Except(maps));
            var x = maps.Count == 1 ? maps[0] : Add("Concat", [.. maps], [IRAttribute.Int("axis", 1)]);
            var c = Dims(x)![1];
            // Relu(x) and Relu(-x): the fitted conv reads x whatever its sign (one copy when two would pass the channel limit).
            var copies = 2 * c <= MaxChannels ? 2 * c : c;
            var hidden = x;
            var layers = Math.Max(1, halvings);
            for (var l = 0; l < layers; l++)
            {
                var inC = l == 0 ? c : copies;
                var w = new float[copies * inC * 9];
                for (long o = 0; o < copies; o++)
                    w[(o * inC + (l == 0 ? o % c : o)) * 9 + 4] = l == 0 && o >= c ? -1 : 1;
                hidden = Add("Relu", [Conv(g, made, anchor, hidden, w, copies, inC, null, l < halvings ? 2 : 1, $"{hint}_copy{l}")], []);
            }
            var (weights, bias) = fit is null ? (new float[yDims[1] * copies * 9], new float[yDims[1]])
                : FitConv(fit.Value.Inputs, region.Inputs, maps, fit.Value.Output, c, copies, halvings);
            Conv(g, made, anchor, hidden, weights, yDims[1], copies, bias, 1, $"{hint}_fit", studentOut);
            shape = $"{layers} copy conv(s) 3x3{(halvings > 0 ? $"/s2 x{halvings}" : "")} + ReLU, conv 3x3 {copies}->{yDims[1]} fitted by least squares";
        }
        else
        {
            var x = region.Inputs.OrderByDescending(v => Dims(v)?.Aggregate(1L, (a, d) => a * d) ?? 0).First(v => Dims(v) is { Length: 2 or 4 });
            unused.AddRange(region.Inputs.Where(v => v != x));
            var xd = Dims(x)!;
            var flat = xd.Length == 2 ? x
                : xd[1] * xd[2] * xd[3] <= MaxFlattened ? Add("Flatten", [x], [IRAttribute.Int("axis", 1)])
                : Add("Flatten", [Add("GlobalAveragePool", [x], [])], [IRAttribute.Int("axis", 1)]);
            var k = Dims(flat)![1];
            var (weights, bias) = fit is null ? (new float[yDims[1] * k], new float[yDims[1]]) : FitLinear(fit.Value.Inputs[region.Inputs.ToList().IndexOf(x)], xd, k, fit.Value.Output);
            var wv = g.AddConstant($"{hint}_fit_w", TensorData.FromFloats([yDims[1], k], weights));
            var bv = g.AddConstant($"{hint}_fit_b", TensorData.FromFloats([yDims[1]], bias));
            Add("Gemm", [flat, wv, bv], [IRAttribute.Int("transB", 1)], studentOut);
            shape = $"{(flat == x ? "" : xd[1] * xd[2] * xd[3] <= MaxFlattened ? "Flatten, " : "global average pool, Flatten, ")}fully connected {k}->{yDims[1]} fitted by least squares";
        }
        var studentMacs = made.Sum(n => OpRegistry.Macs(n) ?? 0);
        var studentParams = made.SelectMany(n => n.Inputs).Where(v => v?.Constant is not null).Distinct().Sum(v => v!.Constant!.ElementCount);

        var name = region.Nodes.Count == 1 ? region.Nodes[0].DisplayName : $"{region.Nodes[0].DisplayName} .. {region.Nodes[^1].DisplayName}";
        var ops = string.Join(" ", region.Nodes.GroupBy(n => n.OpType).Select(grp => grp.Count() == 1 ? grp.Key : $"{grp.Key} x{grp.Count()}"));
        // The student's output takes over the region's (blocks and reports find it by the teacher's name).
        g.ReplaceAllUses(y, studentOut);
        var yName = y.Name;
        y.Name = g.FreshName(yName + "_retired");
        studentOut.Name = yName;
        foreach (var n in region.Nodes.Reverse()) g.Remove(n);
        g.RemoveDeadCode();
        var text = $"{Summary}: region of {region.Nodes.Count} node(s), {rejected} of them rejected by {capability.Name} [{ops}] -> {shape}; MACs {studentMacs} vs {regionMacs} " +
            $"(original), parameters {studentParams} vs {regionParams}" + (fit is null ? "; no calibration items: starts at zero" : "") +
            (unused.Count > 0 ? $"; not read by the student: {string.Join(", ", unused.Select(v => v.Name))}" : "");
        return new ReplacementRecord(name, region.Nodes.Count == 1 ? region.Nodes[0].OpType : "region", text, yName)
        {
            Covers = [.. region.Nodes.Select(n => n.DisplayName)],
        };
    }

    private static Value Conv(Graph g, List<Node> made, Node anchor, Value x, float[] w, long outCh, long inCh, float[]? bias, long stride,
        string hint, Value? output = null)
    {
        var conv = Replacement.Conv3x3(g, anchor, x, w, outCh, inCh, bias, stride, output, hint);
        made.Add(conv);
        ShapeInference.InferNode(conv);
        return conv.Outputs[0];
    }

    /// <summary>The region's inputs and output on up to <see cref="FitItems"/> calibration items, as the graph computes them now.</summary>
    private static (Tensor[] Inputs, Tensor Output)? Features(Model model, StudentRegion region, TensorData calibration)
    {
        var inputs = model.Graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (inputs.Count != 1) return null;
        var watched = region.Inputs.Append(region.Outputs[0]).ToList();
        var opset = model.Opset() == 0 ? GraphModule.DefaultOpset : model.Opset();
        using var module = new GraphModule(model.Graph.Nodes, inputs, watched, opset);
        using var noGrad = torch.no_grad();
        module.eval();
        var data = TorchTensors.FromData(calibration);
        var items = (int)Math.Min(FitItems, data.shape[0]);
        var collected = watched.Select(_ => new List<Tensor>()).ToList();
        for (var i = 0; i < items; i++)
        {
            var outs = module.forward([data.narrow(0, i, 1)]);
            for (var j = 0; j < watched.Count; j++) collected[j].Add(outs[j].detach().to(ScalarType.Float64).clone());
        }
        var all = collected.Select(c => torch.cat(c, 0)).ToArray();
        return (all[..^1], all[^1]);
    }

    /// <summary>Ridge least squares: the [features+1, targets] map (bias last) taking rows of a to rows of b.</summary>
    private static Tensor Solve(Tensor a, Tensor b)
    {
        var ones = torch.ones([a.shape[0], 1], dtype: ScalarType.Float64);
        var ab = torch.cat([a, ones], 1);
        var gram = ab.t().matmul(ab);
        // Features too large for float (an Exp region) have no useful fit: the student then starts at zero.
        if (!torch.isfinite(gram).all().item<bool>()) return torch.zeros([ab.shape[1], b.shape[1]], dtype: ScalarType.Float64);
        // A small ridge, relative to the features' energy, keeps copies that are never active (Relu(-x) of x >= 0) at zero.
        var ridge = 1e-6 * (gram.diagonal().mean().item<double>() + 1e-12);
        gram += ridge * torch.eye(gram.shape[0], dtype: ScalarType.Float64);
        var solution = torch.linalg.solve(gram, ab.t().matmul(b));
        return torch.isfinite(solution).all().item<bool>() ? solution : torch.zeros_like(solution);
    }

    private static (float[] W, float[] B) FitConv(Tensor[] regionInputs, IReadOnlyList<Value> inputValues, List<Value> maps, Tensor output, long c, long copies, int halvings)
    {
        // The student's hidden map, as its copy convs compute it (Dirac kernels, ReLU, stride 2 per halving).
        var x = torch.cat([.. maps.Select(m => regionInputs[inputValues.ToList().IndexOf(m)])], 1);
        var hidden = copies == 2 * c ? torch.cat([nn.functional.relu(x), nn.functional.relu(-x)], 1) : nn.functional.relu(x);
        for (var l = 0; l < halvings; l++) hidden = hidden[.., .., TensorIndex.Slice(null, null, 2), TensorIndex.Slice(null, null, 2)];
        var cols = nn.functional.unfold(hidden, 3, padding: 1); // [N, copies*9, H*W]
        var a = cols.permute(0, 2, 1).reshape(-1, copies * 9);
        var m = output.shape[1];
        var b = output.permute(0, 2, 3, 1).reshape(-1, m);
        var sol = Solve(a, b); // [copies*9 + 1, M]
        var w = sol.narrow(0, 0, copies * 9).t().contiguous().to(ScalarType.Float32);
        var bias = sol[-1].contiguous().to(ScalarType.Float32);
        return (w.data<float>().ToArray(), bias.data<float>().ToArray());
    }

    private static (float[] W, float[] B) FitLinear(Tensor input, long[] xd, long k, Tensor output)
    {
        var a = xd.Length == 2 ? input : xd[1] * xd[2] * xd[3] <= MaxFlattened ? input.flatten(1) : input.mean([2L, 3L]);
        var sol = Solve(a, output);
        var w = sol.narrow(0, 0, k).t().contiguous().to(ScalarType.Float32);
        return (w.data<float>().ToArray(), sol[-1].contiguous().to(ScalarType.Float32).data<float>().ToArray());
    }
}
