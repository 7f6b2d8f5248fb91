using AnimeSaasApi;

namespace AnimeSaasApi.Tests;

public class AnimeTests
{
    [Fact]
    public void NewAnimeIsAnnounced() => Assert.Equal("announced", new Anime().Status);
}
