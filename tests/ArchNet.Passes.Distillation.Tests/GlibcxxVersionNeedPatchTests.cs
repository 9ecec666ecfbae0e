using System.Diagnostics;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>
/// The build step in build/TorchSharpGlibcxx.targets: it must flip exactly one flag bit of the
/// GLIBCXX_3.4.32 version need, and running it again must leave the file alone.
/// </summary>
public sealed class GlibcxxVersionNeedPatchTests
{
    private const string LibraryName = "libLibTorchSharp.so";

    [Fact]
    public void OutputCopy_DiffersFromPackageOnlyInWeakFlag()
    {
        byte[] original = File.ReadAllBytes(PackageLibraryPath());
        byte[] patched = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", LibraryName));

        AssertOnlyWeakBitSet(original, patched);
    }

    [Fact]
    public void Patch_RunTwice_FlipsOneBitThenLeavesFileAlone()
    {
        string work = Directory.CreateTempSubdirectory("archnet-glibcxx-").FullName;
        try
        {
            string library = Path.Combine(work, LibraryName);
            File.Copy(PackageLibraryPath(), library);
            byte[] original = File.ReadAllBytes(library);
            string project = Path.Combine(work, "patch.proj");
            File.WriteAllText(project, $"""
                <Project>
                  <Import Project="{Path.Combine(RepositoryRoot(), "build", "TorchSharpGlibcxx.targets")}" />
                  <Target Name="PatchTwice">
                    <ArchNetWeakenVersionNeed Files="{library}" VersionName="GLIBCXX_3.4.32" />
                    <ArchNetWeakenVersionNeed Files="{library}" VersionName="GLIBCXX_3.4.32" />
                  </Target>
                </Project>
                """);

            string log = RunMsBuild(project, "PatchTwice");

            AssertOnlyWeakBitSet(original, File.ReadAllBytes(library));
            Assert.Contains("marked version need GLIBCXX_3.4.32 weak", log);
            Assert.Contains("version need GLIBCXX_3.4.32 already weak", log);
            Assert.Empty(Directory.GetFiles(work, "*.archnet-tmp"));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static void AssertOnlyWeakBitSet(byte[] original, byte[] patched)
    {
        Assert.Equal(original.Length, patched.Length);
        int[] differing = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        int offset = Assert.Single(differing);
        // vna_flags is little-endian; VER_FLG_WEAK (2) lives in its low byte.
        Assert.Equal(original[offset] | 2, patched[offset]);
        Assert.Equal(0, original[offset] & 2);
    }

    private static string RunMsBuild(string project, string target)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "msbuild", project, $"-t:{target}", "-v:d", "-nologo", "-nodeReuse:false" })
            start.ArgumentList.Add(arg);
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"msbuild failed:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    private static string PackageLibraryPath()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string version = typeof(TorchSharp.torch).Assembly.GetName().Version!.ToString(3);
        string path = Path.Combine(root, "torchsharp", version, "runtimes", "linux-x64", "native", LibraryName);
        Assert.True(File.Exists(path), $"TorchSharp's package copy not found at {path}");
        return path;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.targets")))
                return dir.FullName;
        }
        throw new InvalidOperationException("repository root (Directory.Build.targets) not found above " + AppContext.BaseDirectory);
    }
}
