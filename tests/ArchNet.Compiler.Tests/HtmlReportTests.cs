using System.Text.Json.Nodes;
using ArchNet.IR;
using ArchNet.Testing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// report.html in a real browser (Debian's headless Chromium): it requests nothing from the network, shows at least four
/// SVG charts each with plotted data and axis labels, and its screenshot is not blank. ARCHNET_REPORT_HTML=path checks
/// that report instead of compiling one (the README job's: ARCHNET_REPORT_SCREENSHOT=path keeps its screenshot).
/// </summary>
public sealed class HtmlReportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-html-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Per chart: the data elements inside its plot area, and the texts that are words (axis labels, legends).</summary>
    private const string ChartsScript = """
        JSON.stringify([...document.querySelectorAll('figure svg')].map(s => ({
          id: s.closest('figure').id,
          plotted: s.querySelectorAll('g[clip-path] path, g[clip-path] rect, g[clip-path] ellipse').length,
          words: [...s.querySelectorAll('text')].map(t => t.textContent.trim()).filter(t => /[a-z]{2}/i.test(t)),
          width: s.getBoundingClientRect().width })))
        """;

    [Fact]
    public void ReportHtml_InChromium_MakesNoRequest_ShowsFourChartsWithDataAndAxisLabels_AndIsNotBlank()
    {
        var html = Environment.GetEnvironmentVariable("ARCHNET_REPORT_HTML") is { Length: > 0 } given ? given : CompileWithDistillation();
        var visit = HeadlessChromium.Visit(html, ChartsScript);
        var page = new Uri(Path.GetFullPath(html)).AbsoluteUri;
        Assert.Equal([page], visit.RequestedUrls.Distinct()); // the page itself, nothing else

        var charts = JsonNode.Parse(visit.ScriptResult)!.AsArray().Select(c => c!.AsObject()).ToList();
        foreach (var c in charts) output.WriteLine(c.ToJsonString());
        Assert.True(charts.Count >= 4, $"{charts.Count} charts");
        Assert.All(charts, c =>
        {
            Assert.True(c["plotted"]!.GetValue<int>() >= 1, $"{c["id"]}: nothing plotted");
            Assert.True(c["width"]!.GetValue<double>() > 300, $"{c["id"]}: not laid out");
        });
        string[] Words(string id) => [.. charts.Single(c => c["id"]!.GetValue<string>() == id)["words"]!.AsArray().Select(w => w!.GetValue<string>())];
        Assert.Contains("SQNR (dB)", Words("chart-layers-sqnr"));
        Assert.Contains("layer (graph order)", Words("chart-layers-sqnr"));
        Assert.Contains("step", Words("chart-distill-loss"));
        Assert.Contains("training loss", Words("chart-distill-loss"));
        Assert.Contains("cosine to the teacher", Words("chart-distill-cosine"));
        Assert.Contains("nodes", Words("chart-ops"));

        using var shot = Image.Load<Rgba32>(visit.ScreenshotPng);
        long inked = 0;
        var colours = new HashSet<Rgba32>();
        shot.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < rows.Height; y++)
                foreach (var p in rows.GetRowSpan(y))
                {
                    if (p.R + p.G + p.B < 3 * 235) inked++;
                    colours.Add(p);
                }
        });
        var share = (double)inked / (shot.Width * shot.Height);
        output.WriteLine($"screenshot {shot.Width}x{shot.Height}: {100 * share:F1} % inked, {colours.Count} colours");
        Assert.True(share > 0.03 && colours.Count > 50, $"blank-looking screenshot: {100 * share:F1} % inked, {colours.Count} colours");
        if (Environment.GetEnvironmentVariable("ARCHNET_REPORT_SCREENSHOT") is { Length: > 0 } keep) File.WriteAllBytes(keep, visit.ScreenshotPng);
    }

    /// <summary>The check has teeth: a page that loads an image from the network is seen doing so.</summary>
    [Fact]
    public void Chromium_SeesAPageRequestTheNetwork()
    {
        var page = Path.Combine(_dir, "remote.html");
        File.WriteAllText(page, "<!DOCTYPE html><html><body><img src=\"http://example.invalid/a.png\"></body></html>");
        var visit = HeadlessChromium.Visit(page, "document.images.length");
        Assert.Contains("http://example.invalid/a.png", visit.RequestedUrls);
    }

    private string CompileWithDistillation()
    {
        var f = TestData.FashionMnist;
        var dir = Path.Combine(_dir, "cnn");
        new Compilation(new CompileOptions(TestData.Teacher("fmnist_cnn").Onnx, "archnet", dir)
        {
            Calibration = $"idx:{f.TrainImages}:64",
            Evaluation = $"idx:{f.TestImages}:64",
            EvaluationLabels = $"idx:{f.TestLabels}:64",
            TargetsDirectory = Path.Combine(TestData.RepoRoot, "targets"),
            Distill = DistillMode.Always,
            DistillSteps = 60,
            Threads = 1,
        }, new CollectingDiagnostics()).Run();
        return Path.Combine(dir, "report.html");
    }
}
