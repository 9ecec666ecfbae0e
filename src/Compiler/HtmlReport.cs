using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;

namespace ArchNet.Compiler;

/// <summary>
/// report.html: the compile report for people who look at plots first (per-layer SQNR with the bit widths, the
/// distillation curves), self-contained: the charts are ScottPlot's SVG inlined, no script, no style sheet or font
/// from the network. The figures are report.json's, nothing is measured here.
/// </summary>
public static class HtmlReport
{
    private const int Width = 900, Height = 340;

    public static string ToHtml(CompileReport r)
    {
        var charts = new ChartSet();
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.Append($"<title>archnetc: {E(r.Model)} for {E(r.Target)}</title>\n");
        h.Append("<style>body{font-family:sans-serif;max-width:960px;margin:1em auto;padding:0 1em;color:#222}" +
                 "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}" +
                 "td:first-child,th:first-child,td.name{text-align:left}.warn{background:#fff3cd;padding:.5em;border-left:4px solid #e0a800}" +
                 "figure{margin:1em 0}figcaption{color:#555;font-size:90%}code{font-size:90%}</style>\n</head>\n<body>\n");
        h.Append($"<h1>archnetc: <code>{E(r.Model)}</code> for <code>{E(r.Target)}</code></h1>\n");
        if (r.LowConfidence) h.Append("<p class=\"warn\"><b>LOW CONFIDENCE</b>: random inputs were used; these figures say nothing about real data.</p>\n");

        Summary(h, r);
        Legalization(h, r, charts);
        Layers(h, r, charts);
        Distillation(h, r, charts);
        Host(h, r);
        Timings(h, r, charts);
        h.Append("</body>\n</html>\n");
        return h.ToString();
    }

    private static void Summary(StringBuilder h, CompileReport r)
    {
        h.Append("<h2>Summary</h2>\n<table>\n");
        Row(h, "backend", $"<code>{E(r.Backend)}</code>; artifacts: {string.Join(", ", r.Artifacts.Select(a => $"<code>{E(a)}</code>"))}");
        Row(h, "bit widths", $"weights {r.WeightBits}, activations {r.ActivationBits} ({r.ActivationSignedness.Unsigned} unsigned, " +
            $"{r.ActivationSignedness.Signed} signed values)" + (r.EightBitEdgeLayers.Count > 0 ? $"; {r.EightBitEdgeLayers.Count} edge layer(s) at 8 bits" : ""));
        Row(h, "calibration", $"{E(r.Method)} on {r.CalibrationItems} items ({E(r.Calibration)})");
        Row(h, "evaluation", $"{r.EvaluationItems} items ({E(r.Evaluation)})");
        if (r.Accuracy is { } a)
            Row(h, "accuracy", $"original {P(a.Original)} %, compiled {P(a.Compiled)} % ({F(100 * (a.Compiled - a.Original), "+0.00;-0.00")} pt) on {a.Items} items");
        Row(h, "fidelity", $"top-1 agreement {(r.Fidelity.Top1Agreement is { } t ? P(t) + " %" : "n/a")}, cosine {F(r.Fidelity.Cosine, "F6")}, SQNR {F(r.Fidelity.SqnrDb, "F2")} dB");
        Row(h, "cross-check", E(r.CrossCheck.ToString()));
        foreach (var (name, offset) in r.OutputOffsets)
            Row(h, "output offset", $"<code>{E(name)}</code> is the original's plus {F(offset, "G6")} (the chip's activations are unsigned; " +
                "arg-max and softmax unchanged; fidelity takes it off)");
        h.Append("</table>\n");
    }

    private static void Legalization(StringBuilder h, CompileReport r, ChartSet charts)
    {
        h.Append("<h2>Audit and legalization</h2>\n");
        h.Append($"<p>{r.UnsupportedNodesBefore} node(s) unsupported by {E(r.Target)} before legalization, {r.Rewrites.Count} exact rewrite(s), " +
                 $"{r.UnsupportedNodesAfter} unsupported after; {r.OpsBefore.Values.Sum()} nodes before, {r.OpsAfter.Values.Sum()} after.</p>\n");
        var ops = r.OpsBefore.Keys.Union(r.OpsAfter.Keys).Order(StringComparer.Ordinal).ToList();
        if (ops.Count == 0) return;
        var plot = new Plot();
        var bars = new List<Bar>();
        for (var i = 0; i < ops.Count; i++)
        {
            bars.Add(new Bar { Position = 3 * i, Value = r.OpsBefore.GetValueOrDefault(ops[i]), FillColor = Palette(0) });
            bars.Add(new Bar { Position = 3 * i + 1, Value = r.OpsAfter.GetValueOrDefault(ops[i]), FillColor = Palette(1) });
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ops.Select((_, i) => 3.0 * i + 0.5).ToArray(), ops.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 110; // room for the rotated op names above the axis label
        plot.Axes.Margins(bottom: 0);
        Legend(plot, ("before", Palette(0)), ("after", Palette(1)));
        plot.XLabel("operator");
        plot.YLabel("nodes");
        h.Append(charts.Figure(plot, "ops", "Nodes per operator before and after legalization."));
        if (r.Rewrites.Count > 0)
        {
            h.Append("<details><summary>Rewrites</summary>\n<ul>\n");
            foreach (var w in r.Rewrites) h.Append($"<li><code>{E(w)}</code></li>\n");
            h.Append("</ul>\n</details>\n");
        }
    }

    private static void Layers(StringBuilder h, CompileReport r, ChartSet charts)
    {
        h.Append($"<h2>Layers (first {r.LayerItems} evaluation items)</h2>\n");
        if (r.Layers.Count == 0) { h.Append("<p>No layer compared.</p>\n"); return; }
        var ordered = r.Layers.OrderBy(l => l.Position).ThenBy(l => l.Value, StringComparer.Ordinal).ToList();
        var widths = ordered.Select(l => l.Bits).Distinct().Order().ToList();
        Color BitsColor(int bits) => Palette(2 + widths.IndexOf(bits));
        // An exact layer's SQNR is reported as 999 dB; the plot caps it so that the others stay readable.
        var cap = Math.Max(40, ordered.Where(l => l.SqnrDb < 999).Select(l => l.SqnrDb).DefaultIfEmpty(0).Max() + 5);

        var sqnr = new Plot();
        sqnr.Add.Bars(ordered.Select((l, i) => new Bar { Position = i, Value = Math.Min(l.SqnrDb, cap), FillColor = BitsColor(l.Bits) }).ToList());
        sqnr.Axes.Margins(bottom: 0);
        sqnr.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        Legend(sqnr, [.. widths.Select(b => ($"{b}-bit", BitsColor(b)))]);
        sqnr.XLabel("layer (graph order)");
        sqnr.YLabel("SQNR (dB)");
        h.Append(charts.Figure(sqnr, "layers-sqnr", $"SQNR of each value the chip writes against the float model, in graph order, coloured by bit width " +
            $"(exact layers capped at {F(cap, "F0")} dB)."));

        var cosine = new Plot();
        foreach (var b in widths)
        {
            var points = ordered.Select((l, i) => (l, i)).Where(p => p.l.Bits == b).ToList();
            var s = cosine.Add.ScatterPoints(points.Select(p => (double)p.i).ToArray(), points.Select(p => p.l.Cosine).ToArray(), BitsColor(b));
            s.LegendText = $"{b}-bit";
            s.MarkerSize = 7;
        }
        cosine.ShowLegend(Alignment.LowerLeft);
        cosine.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        cosine.XLabel("layer (graph order)");
        cosine.YLabel("cosine similarity");
        h.Append(charts.Figure(cosine, "layers-cosine", "Cosine similarity of each value the chip writes against the float model."));

        h.Append("<p>Worst first. \"after ReLU\": every use of the value reaches a ReLU; it is compared after it, since its unsigned format " +
                 "saturates only what that ReLU removes.</p>\n<table>\n<tr><th>#</th><th>value</th><th>bits</th><th>cosine</th><th>SQNR (dB)</th>" +
                 "<th>float values outside the format's range</th></tr>\n");
        foreach (var l in r.Layers)
            h.Append($"<tr><td>{ordered.IndexOf(l)}</td><td class=\"name\"><code>{E(l.Value)}</code>{(l.AfterRelu ? " (after ReLU)" : "")}</td><td>{l.Bits}</td>" +
                     $"<td>{F(l.Cosine, "F6")}</td><td>{F(l.SqnrDb, "F2")}</td><td>{F(100 * l.Clipped, "F1")} %</td></tr>\n");
        h.Append("</table>\n");
    }

    private static void Distillation(StringBuilder h, CompileReport r, ChartSet charts)
    {
        if (r.Distillation is not { } d) { h.Append("<h2>Distillation</h2>\n<p>Nothing was retrained.</p>\n"); return; }
        h.Append($"<h2>Distillation ({d.Steps} steps, batch {d.Batch}, seed {d.Seed}, {F(d.Seconds, "F0")} s" +
                 $"{(d.ResumedPeriods > 0 ? $", resumed after {d.ResumedPeriods} blocks" : "")})</h2>\n");
        if (d.Replacements.Count > 0)
        {
            h.Append("<ul>\n");
            foreach (var x in d.Replacements) h.Append($"<li>retrained: <code>{E(x)}</code></li>\n");
            h.Append("</ul>\n");
        }
        if (d.Curve.Count > 0)
        {
            var blocks = d.Curve.GroupBy(p => p.Block).OrderBy(g => g.Key).ToList();
            var loss = new Plot();
            var cosine = new Plot();
            foreach (var g in blocks)
            {
                var xs = g.Select(p => (double)p.Step).ToArray();
                var l = loss.Add.ScatterLine(xs, g.Select(p => p.Loss).ToArray(), Palette(g.Key - 1));
                l.LegendText = $"block {g.Key}";
                var c = cosine.Add.ScatterLine(xs, g.Select(p => p.Cosine).ToArray(), Palette(g.Key - 1));
                c.LegendText = $"block {g.Key}";
            }
            loss.ShowLegend(Alignment.UpperRight);
            loss.XLabel("step");
            loss.YLabel("training loss");
            cosine.ShowLegend(Alignment.LowerRight);
            cosine.XLabel("step");
            cosine.YLabel("cosine to the teacher");
            h.Append(charts.Figure(loss, "distill-loss", "Distillation loss against steps, per block (mean over the steps since the previous point); " +
                "block k trains blocks 1..k against the teacher's features, the last one also its outputs."));
            h.Append(charts.Figure(cosine, "distill-cosine", "Cosine of each block's tensor (student with fake quantization) to the teacher's, " +
                "on the training batch, against steps."));
        }
        else
            h.Append("<p>Every block was resumed from the checkpoint: no training curve in this run.</p>\n");
        h.Append("<table>\n<tr><th>block</th><th>tensor</th><th>replacements</th><th>cosine before</th><th>cosine after</th>" +
                 "<th>SQNR before (dB)</th><th>SQNR after (dB)</th></tr>\n");
        foreach (var b in d.Blocks)
            h.Append($"<tr><td>{b.Block}</td><td class=\"name\"><code>{E(b.Tensor)}</code></td><td>{b.Replacements.Count}</td><td>{F(b.CosineBefore)}</td>" +
                     $"<td>{F(b.CosineAfter)}</td><td>{F(b.SqnrDbBefore, "F2")}</td><td>{F(b.SqnrDbAfter, "F2")}</td></tr>\n");
        h.Append("</table>\n");
    }

    private static void Host(StringBuilder h, CompileReport r)
    {
        h.Append("<h2>Host steps</h2>\n");
        if (r.HostFallbackNodes.Count == 0 && r.HostFloatOps.Count == 0 && r.AccumulatorRisks.Count == 0)
        {
            h.Append("<p>None: every node runs on the chip in integers.</p>\n");
            return;
        }
        h.Append("<ul>\n");
        foreach (var n in r.HostFallbackNodes) h.Append($"<li>float on the host (host fallback): <code>{E(n)}</code></li>\n");
        foreach (var n in r.HostFloatOps) h.Append($"<li>computed in float inside the integer model: <code>{E(n)}</code></li>\n");
        foreach (var n in r.AccumulatorRisks) h.Append($"<li>sum that can pass the accumulator: <code>{E(n)}</code></li>\n");
        h.Append("</ul>\n");
    }

    private static void Timings(StringBuilder h, CompileReport r, ChartSet charts)
    {
        if (r.TimingsSeconds.Count == 0) return;
        h.Append("<h2>Timings</h2>\n");
        var stages = r.TimingsSeconds.ToList();
        var plot = new Plot();
        var bars = plot.Add.Bars(stages.Select((s, i) => new Bar { Position = i, Value = s.Value, FillColor = Palette(0) }).ToList());
        bars.Horizontal = true;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(stages.Select((_, i) => (double)i).ToArray(), stages.Select(s => s.Key).ToArray());
        plot.Axes.Margins(left: 0);
        plot.XLabel("seconds");
        plot.YLabel("stage");
        h.Append(charts.Figure(plot, "timings", "Time per stage."));
    }

    private static void Legend(Plot plot, params (string Label, Color Color)[] items)
    {
        foreach (var (label, color) in items) plot.Legend.ManualItems.Add(new LegendItem { LabelText = label, FillColor = color });
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static Color Palette(int i) => new ScottPlot.Palettes.Category10().GetColor(i);

    private static void Row(StringBuilder h, string name, string html) => h.Append($"<tr><th>{E(name)}</th><td style=\"text-align:left\">{html}</td></tr>\n");

    private static string E(string s) => WebUtility.HtmlEncode(s);
    private static string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);
    private static string P(double share) => F(100 * share, "F2");

    /// <summary>The charts of one page: inline SVGs share the page's id space, so each chart's ids get its own prefix.</summary>
    private sealed class ChartSet
    {
        public string Figure(Plot plot, string id, string caption)
        {
            var svg = plot.GetSvgXml(Width, Height);
            svg = svg[svg.IndexOf("<svg", StringComparison.Ordinal)..]; // the XML declaration is not allowed inside HTML
            svg = svg.Replace("id=\"", $"id=\"{id}-").Replace("url(#", $"url(#{id}-");
            return $"<figure id=\"chart-{id}\">\n{svg}\n<figcaption>{E(caption)}</figcaption>\n</figure>\n";
        }
    }
}
