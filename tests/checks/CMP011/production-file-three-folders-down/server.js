require("http").createServer().listen(8443);
