// The page is static: relative paths, so that dist/ works from any folder or server.
export default {
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0 },
};
