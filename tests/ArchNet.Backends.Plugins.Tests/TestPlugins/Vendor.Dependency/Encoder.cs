namespace Vendor.Dependency;

public static class Encoder
{
    public static string Encode(int nodes) => $"encoded {nodes}";
}
