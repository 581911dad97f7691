// Sets the theme before the first paint (a classic script in <head>: no flash of the wrong
// theme). The rest of the page is in modules that run after parsing.
(function () {
    var theme = 'auto';
    try {
        theme = JSON.parse(localStorage.getItem('pingwatcher.settings') || '{}').theme || 'auto';
    } catch (e) {
        /* defaults */
    }
    var dark = theme === 'dark' ||
        (theme === 'auto' && window.matchMedia('(prefers-color-scheme: dark)').matches);
    document.documentElement.setAttribute('data-theme', theme);
    document.documentElement.setAttribute('data-effective-theme', dark ? 'dark' : 'light');
})();
