{
  docker.ports = [ 2 ];
  app.banner = "from b";
}
