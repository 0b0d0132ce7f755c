{ lib, ... }: {
  server.port = 80;
}
