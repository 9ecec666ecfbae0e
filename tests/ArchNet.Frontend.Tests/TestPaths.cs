namespace ArchNet.Frontend.Tests;

/// <summary>Where the test data lives. Data fetched by tests/data/fetch.sh is required, never skipped.</summary>
internal static class TestPaths
{
    public const string ConformanceRoot = "/usr/include/onnx/backend/test/data";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string CachedModels => Path.Combine(RepoRoot, "tests", "data", "cache", "models");

    public static string Teachers => Path.Combine(RepoRoot, "tests", "fixtures", "teachers");

    public static string Artifacts => Path.Combine(RepoRoot, "artifacts");

    /// <summary>The folder, or a failure telling how to get it.</summary>
    public static string Require(string folder)
    {
        Assert.True(Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any(),
            $"test data folder {folder} is missing or empty: run tests/data/fetch.sh");
        return folder;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props")))
                return dir.FullName;
        throw new InvalidOperationException("repository root (Directory.Packages.props) not found above " + AppContext.BaseDirectory);
    }
}
