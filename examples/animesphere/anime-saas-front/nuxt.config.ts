// https://nuxt.com/docs/api/configuration/nuxt-config
export default defineNuxtConfig({
  compatibilityDate: '2024-07-01',
  devtools: { enabled: false },
  runtimeConfig: {
    public: {
      apiBase: '/api',
      googleClientId: '',
      posthogPublicKey: '',
      posthogHost: 'https://eu.i.posthog.com',
    },
  },
  nitro: {
    preset: 'node-server',
  },
})
